' WAIT 0 goes on at once; WAIT 1 parks the conversation until it is woken.
' PRINT writes a log line, never shown to the user.
TALK "before"
WAIT 0
PRINT "debug: " + NOW()
TALK "after zero"
WAIT 1
TALK "after one second"
RETURN "woke"
