' JSON in and out.
text = "{""name"": ""Ana"", ""tags"": [""a"", ""b""], ""age"": 30, ""vip"": true}"
o = FROMJSON(text)
TALK o.name + " " + LEN(o.tags) + " " + o.tags[1] + " " + (o.age + 1) + " " + TYPEOF(o) + " " + TYPEOF(o.vip)
TALK TOJSON({ "b": [1, 2.5], "a": "x", "n": NULL })
TALK TOJSON("quote""s") + " " + TOJSON(3)
ON ERROR RESUME NEXT
bad = FROMJSON("{nope")
TALK "bad json: " + IIF(ERR, "error", "ok")
