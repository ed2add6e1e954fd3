' POST /api/bots/services/webhooks/orders runs this script with the posted body.
WEBHOOK "orders"
SAVE "webhook_orders", { "id": body.id, "total": body.total }
TALK "Order ${body.id} received"
RETURN { "ok": TRUE, "id": body.id }
