' In-memory row operations: FILTER, AGGREGATE, GROUP BY, SORT, JOIN, MAP, FILL,
' PIVOT, NEW OBJECT and NEW ARRAY.
sales = [ _
  { "region": "north", "rep": "Ana", "amount": 100 }, _
  { "region": "south", "rep": "Bruno", "amount": 40 }, _
  { "region": "north", "rep": "Carla", "amount": 60 }, _
  { "region": "south", "rep": "Ana", "amount": 10.5 } _
]
north = FILTER sales, "region = 'north' AND amount >= 60"
TALK "North: " + LEN(north)
total = AGGREGATE "SUM", sales, "amount"
n = AGGREGATE "COUNT", sales, "rep"
avg = AGGREGATE "AVG", sales, "amount"
TALK "sum=${total} count=${n} avg=${avg} min=" + AGGREGATE("MIN", sales, "amount") + " max=" + AGGREGATE("max", sales, "amount")
groups = GROUP BY sales, "region"
TALK "Groups: north " + LEN(groups.north) + ", south " + LEN(groups.south)
top = SORT sales, "amount" DESC
TALK "Top: " + top[0].rep + ", bottom: " + LAST(top).amount
byrep = SORT sales, "rep"
TALK "First rep: " + byrep[0].rep + " " + byrep[0].amount
teams = [{ "rep": "Ana", "team": "A" }, { "rep": "Bruno", "team": "B" }]
joined = JOIN sales, teams, "rep"
TALK "Joined: " + LEN(joined) + " " + joined[0].team + joined[1].team + joined[2].team
renamed = MAP sales, "rep->seller, amount->value"
TALK "Mapped: " + renamed[0].seller + " " + renamed[0].value + " " + ISEMPTY(renamed[0].rep)
lines = FILL sales, "{{rep}} sold {{amount}}"
TALK JOIN(lines, "; ")
p = PIVOT sales, "rep", "amount"
TALK "Pivot: Ana " + p.Ana + ", Bruno " + p.Bruno + ", Carla " + p.Carla
o = NEW OBJECT
o.name = "x"
a = NEW ARRAY
a = PUSH(a, 1)
TALK TOJSON(o) + " " + TOJSON(a)
