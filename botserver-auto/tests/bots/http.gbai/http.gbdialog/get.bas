' GET: a JSON answer becomes an object or an array; text stays text.
r = GET api + "/json"
TALK "ok=" + r.ok + " n=" + r.n + " " + TYPEOF(r)
products = GET "${api}/products"
TALK TYPEOF(products) + " of " + LEN(products) + ", first " + products[0].name + " at " + products[0].price
t = GET api + "/text"
TALK TYPEOF(t) + ": " + t
RETURN r
