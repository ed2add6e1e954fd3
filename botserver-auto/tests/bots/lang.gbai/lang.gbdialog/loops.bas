' Counter loops with and without STEP, FOR EACH, WHILE/WEND and the DO forms.
s = ""
FOR i = 1 TO 5
  s = s & i
NEXT i
TALK "for: " + s
s = ""
FOR i = 10 TO 1 STEP -3
  s = s & i & " "
NEXT
TALK "step: " + TRIM(s)
s = ""
FOR x = 0 TO 1 STEP 0.25
  s = s & x & ";"
NEXT x
TALK "decimal step: " + s
s = ""
FOR i = 3 TO 1
  s = "ran"
NEXT
TALK "empty range: [" + s + "]"
s = ""
FOR EACH name IN ["ana", "bo"]
  s = s & UCASE(name)
NEXT name
FOR EACH v IN { "a": 1, "b": 2 }
  s = s & v
NEXT
FOR EACH nothing IN NULL
  s = s & "?"
NEXT
TALK "for each: " + s
n = 0
WHILE n < 3
  n = n + 1
WEND
TALK "while: " + n
DO WHILE n > 0
  n = n - 1
LOOP
TALK "do while: " + n
DO UNTIL n = 4
  n = n + 2
LOOP
TALK "do until: " + n
DO
  n = n + 1
LOOP WHILE n < 2
TALK "loop while: " + n
DO
  n = n - 1
LOOP UNTIL n <= 0
TALK "loop until: " + n
k = 0
DO WHILE FALSE
  k = 100
LOOP
DO
  k = k + 1
LOOP UNTIL TRUE
TALK "bodies: " + k
