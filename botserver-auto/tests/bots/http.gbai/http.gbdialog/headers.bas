' SET HEADER in both forms; CLEAR HEADERS forgets them.
token = "t-42"
SET HEADER "X-Api-Key", "k-123"
SET HEADER "Authorization" = "Bearer " + token
r = GET api + "/headers"
TALK "key=" + r["x-api-key"] + " auth=" + r["authorization"]
CLEAR HEADERS
r = GET api + "/headers"
TALK "after clear: key=[" + r["x-api-key"] + "] auth=[" + r["authorization"] + "]"
