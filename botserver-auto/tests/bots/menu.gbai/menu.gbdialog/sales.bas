' Sales: a sub-menu in a loop until the user is done.
total = 0
DO
  HEAR item AS "Book", "Pen", "Done" WITH "What would you like?"
  IF item = "Done" THEN EXIT DO
  price = IIF(item = "Book", 30, 2.5)
  total = total + price
  TALK item + " added: " + price
LOOP
TALK "Total: " + FORMAT(total, "#,##0.00")
RETURN total
