PARAM order_id AS INTEGER LIKE "1001" DESCRIPTION "The order number"
DESCRIPTION "Tells the status of an order"
rows = FIND "orders", "id = ${order_id}"
IF LEN(rows) = 0 THEN
  TALK "No order ${order_id}."
  RETURN { "found": FALSE }
END IF
order = FIRST(rows)
TALK "Order ${order.id} is ${order.status}."
RETURN { "found": TRUE, "status": order.status }
