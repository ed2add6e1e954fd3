' Writes rows in every form: SAVE with an object, SAVE with variables, INSERT of
' an object built WITH, and MERGE of many rows (table names may carry a suffix).
SAVE "customers.csv", { "id": 1, "name": "Ana", "city": "Rio", "vip": TRUE, "since": "2020-01-15" }
id = 2
name = "Bruno"
city = "Porto"
SAVE "customers", id, name, city
WITH c
  id = 3
  name = "Carla"
  city = "Rio"
  vip = FALSE
END WITH
INSERT "Customers", c
orders = [ _
  { "order_no": 10, "customer_id": 1, "total": 120.5, "status": "open" }, _
  { "order_no": 11, "customer_id": 1, "total": 30, "status": "paid" }, _
  { "order_no": 12, "customer_id": 3, "total": 75, "status": "open" } _
]
MERGE "orders.xlsx", orders, "order_no"
TALK "Seeded " + COUNT(FIND("customers")) + " customers and " + COUNT(FIND("orders")) + " orders."
