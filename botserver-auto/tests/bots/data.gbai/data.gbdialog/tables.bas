' The data bot's tables, defined when the package is installed.
TABLE customers
  id integer key
  name string(40)
  city string(30)
  vip boolean
  since date
END TABLE

TABLE orders
  order_no integer key
  customer_id integer references customers
  total number
  status string(20)
END TABLE
