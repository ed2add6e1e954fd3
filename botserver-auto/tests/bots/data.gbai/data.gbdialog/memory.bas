' Bot memory is shared by every user; user memory and REMEMBER belong to one user.
visits = GET BOT MEMORY "visits"
visits = visits + 1
SET BOT MEMORY "visits", visits
SET BOT MEMORY "greeting", "Hello from memory"
SET USER MEMORY "color", "blue"
REMEMBER "plan", { "name": "gold", "seats": 3 }
REMEMBER "code", "1234", "1 second"
TALK "Visits: " + visits
RETURN visits
