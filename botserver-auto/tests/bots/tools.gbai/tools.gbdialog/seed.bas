' Orders for the order_status tool.
MERGE "orders", [{ "id": 1001, "status": "shipped" }, { "id": 1002, "status": "packing" }], "id"
TALK "2 orders"
