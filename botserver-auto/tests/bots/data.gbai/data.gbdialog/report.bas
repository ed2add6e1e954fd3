' Reads: FIND with literal, interpolated and computed filters, a limit, FIRST,
' SEARCH, and FOR EACH over the rows.
rio = FIND "customers", "city LIKE 'rio%'"
FOR EACH c IN rio
  TALK c.name + " (" + c.city + ")" + IIF(c.vip, " VIP", "")
NEXT c
nos = []
FOR EACH o IN FIND("orders", "total > ${big_order}")
  nos = PUSH(nos, o.order_no)
NEXT
TALK "Orders over ${big_order}: " + JOIN(nos, ", ")
first = FIRST(FIND("customers", "vip = true"))
TALK "First VIP: " + first.name + " since " + first.since
two = FIND "customers", "id > 0", 2
TALK "Limited to " + LEN(two)
porto = "city = 'Porto'"
TALK "Computed filter: " + FIRST(FIND("customers", porto)).name
found = SEARCH "customers", "janeiro ana"
TALK "Search: " + LEN(found) + " " + found[0].name
evil = "x' OR name <> 'y"
hits = FIND "customers", "name = '${evil}'"
TALK "Injection finds " + LEN(hits)
TALK "No table finds " + LEN(FIND("nothing_here"))
