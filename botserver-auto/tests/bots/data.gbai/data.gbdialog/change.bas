' SAVE on an existing key updates only the fields it carries; UPDATE and DELETE
' take filters; MERGE updates known keys and inserts new ones.
SAVE "customers", { "id": 2, "vip": TRUE }
UPDATE "customers", "city = 'Rio'", { "city": "Rio de Janeiro" }
MERGE "orders", [{ "order_no": 11, "status": "refunded" }, { "order_no": 13, "customer_id": 2, "total": 12.25, "status": "open" }], "order_no"
DELETE "orders", "status = 'open' AND total < 100"
ON ERROR RESUME NEXT
INSERT "customers", { "id": 1, "name": "Again" }
TALK "Insert twice: " + ERROR MESSAGE
