' NOW and RANDOM are recorded: after the HEAR the script is replayed and sees
' the same values.
n = NOW()
r = RANDOM(1, 1000000)
TALK "first " + FORMAT(n, "YYYY-MM-DD HH:mm:ss") + " " + r
HEAR go WITH "Continue?"
TALK "again " + FORMAT(n, "YYYY-MM-DD HH:mm:ss") + " " + r
