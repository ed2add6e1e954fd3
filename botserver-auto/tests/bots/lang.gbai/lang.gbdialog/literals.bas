REM Object and array literals, members and indexes, strings and comments.
// Three comment styles: REM, // and the apostrophe.
order = { "id": 7, "items": [{ "sku": "A1", "qty": 2 }, { "sku": "B2", "qty": 1 }], "customer": { "name": "Ana" } }
TALK "Order ${order.id} for ${order.customer.name}: ${order.items[1].sku} x${order.items[1].qty}" ' trailing
order.status = "paid"
order.items[0].qty = 5
order.Customer.NAME = "Ana Maria"
tags = []
tags[2] = "late"
TALK order.status + " " + order.items[0].qty + " " + order.customer.name + " " + LEN(tags) + " " + order.items[-1].sku
TALK "She said ""hi"" ' and left // still text"
TALK "Sum ${1 + 2 * 3}, ${LEN(order.items)} items, ${UCASE("x")}"
total = 1 + _
  2 + _
  3
TALK "Total " + total
TALK TOJSON([1, "two", 3.5, TRUE, NULL, { "a": [] }])
TALK greeting + ", " + GREETING
