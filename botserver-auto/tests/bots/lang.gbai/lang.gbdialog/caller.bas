' CALL "other.bas" runs another script of the bot: a tool gets its PARAMs, any
' other script gets ARGS. Its variables are its own.
r = 0
CALL "add.bas", 2, 3
CALL "listargs", "x", 1
TALK "caller r=" + r
