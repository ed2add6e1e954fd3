' ON ERROR RESUME NEXT traps errors into ERR and ERROR MESSAGE; ON ERROR GOTO 0
' ends trapping, and the next error ends the script.
ON ERROR RESUME NEXT
x = 1 / 0
TALK "err=" + ERR + " msg=" + ERROR MESSAGE
CALL Fail
TALK "from a SUB: " + ERROR MESSAGE
ON ERROR RESUME NEXT
TALK "reset: err=" + ERR + " msg=[" + ERROR MESSAGE + "]"
ON ERROR GOTO 0
TALK "before the unhandled error"
y = "a" - 1
TALK "not reached"

SUB Fail
  THROW "failed in a SUB"
END SUB
