' The bot's drive: WRITE, READ, COPY, MOVE, LIST, DELETE FILE, UPLOAD, SEND FILE.
WRITE "notes/todo.txt", "buy milk"
WRITE "data/order.json", { "id": 7, "items": ["pen"] }
t = READ "notes/todo.txt"
o = READ "data/order.json"
TALK t + " / " + TYPEOF(o) + " " + o.items[0]
COPY "notes/todo.txt", "notes/copy.txt"
MOVE "notes/copy.txt", "archive/todo.txt"
TALK "notes: " + JOIN(LIST("notes/"), ", ")
DELETE FILE "notes/todo.txt"
files = LIST "/"
TALK "all: " + JOIN(files, ", ")
url = UPLOAD "a,b", "exports/x.csv"
TALK url
SEND FILE "archive/todo.txt", "Your list"
ON ERROR RESUME NEXT
t = READ "../other-bot/secret.txt"
TALK ERROR MESSAGE
