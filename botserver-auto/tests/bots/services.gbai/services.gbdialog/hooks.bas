' Event hooks: every ON form and a webhook.
ON EMAIL "orders@acme.com"
ON INSERT OF "customers"
ON UPDATE OF "customers"
ON DELETE OF "customers"
ON FORM SUBMIT "contact"
ON EVENT "paid"
TALK "event"
