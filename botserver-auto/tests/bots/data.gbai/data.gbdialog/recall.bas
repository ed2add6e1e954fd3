' Reads what memory.bas stored, in both forms of each keyword.
greeting = GET BOT MEMORY("greeting")
visits = GET BOT MEMORY "visits"
color = GET USER MEMORY "color"
plan = RECALL "plan"
code = RECALL("code")
TALK "${greeting}; visits ${visits}; color [${color}]; plan [${plan.name} x${plan.seats}]; code [${code}]"
ON ERROR RESUME NEXT
REMEMBER "k", 1, "soon"
TALK ERROR MESSAGE
