' EXIT FOR (also from inside a DO), EXIT DO (also from inside a FOR), EXIT WHILE,
' EXIT SUB and EXIT FUNCTION.
found = 0
FOR i = 1 TO 10
  j = 0
  DO
    j = j + 1
    IF i * j = 12 THEN
      found = i
      EXIT FOR
    END IF
    IF j >= 3 THEN EXIT DO
  LOOP
NEXT i
TALK "found i=" + found + " j=" + j + " i=" + i
DO
  FOR k = 1 TO 5
    IF k = 2 THEN EXIT DO
  NEXT
  TALK "never"
LOOP
TALK "exit do from a for: k=" + k
n = 0
WHILE TRUE
  n = n + 1
  IF n = 3 THEN EXIT WHILE
WEND
TALK "exit while: n=" + n
CALL Check(-1)
CALL Check(2)
TALK "sign: [" + Sign(0) + "] [" + Sign(5) + "] [" + Sign(-5) + "]"

SUB Check(v)
  IF v < 0 THEN EXIT SUB
  TALK "checked " + v
END SUB

FUNCTION Sign(v)
  IF v = 0 THEN EXIT FUNCTION
  RETURN IIF(v > 0, "+", "-")
END FUNCTION
