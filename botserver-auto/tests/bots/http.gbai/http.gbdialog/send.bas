' POST, PUT, PATCH and DELETE: objects go as JSON, text as text.
order = { "item": "pen", "qty": 2 }
r = POST api + "/echo", order
TALK r.method + " " + r.content_type + " " + r.body
r = PUT api + "/echo", "plain words"
TALK r.method + " " + r.content_type + " " + r.body
r = PATCH api + "/echo", { "qty": 3 }
TALK r.method + " " + r.body
r = DELETE api + "/echo"
TALK r.method + " [" + r.body + "]"
POST api + "/echo", { "fire": "and forget" }
TALK "done"
