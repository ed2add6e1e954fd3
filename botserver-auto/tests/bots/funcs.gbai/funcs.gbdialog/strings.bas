' String functions.
s = "  Hello World  "
TALK "[" + TRIM(s) + "][" + LTRIM(s) + "][" + RTRIM(s) + "]"
t = "Hello World"
TALK LEN(t) + " " + LEFT(t, 5) + " " + RIGHT(t, 5) + " " + MID(t, 7) + " " + MID(t, 2, 3)
TALK UCASE(t) + " " + UPPER("a") + " " + LCASE(t) + " " + LOWER("B") + " " + ucase("lower-case call")
TALK REPLACE(t, "World", "There") + " " + REPLACE("a-b-c", "-", "")
parts = SPLIT("a, b,c", ",")
TALK LEN(parts) + ":" + JOIN(parts, "|") + ":" + JOIN(SPLIT("x;y", ";")) + ":" + LEN(SPLIT("abc", ""))
TALK INSTR(t, "o") + " " + INSTR(6, t, "o") + " " + INSTR(t, "z")
TALK VAL("42") + VAL("3.5") + " " + VAL("abc") + " " + STR(42) + STR(1.5) + " " + TYPEOF(STR(7))
TALK CONCAT("a", 1, TRUE, NULL, 2.5)
TALK FORMAT(1234567.891, "#,##0.00") + " " + FORMAT(3.14159, "0.0") + " " + FORMAT(42) + " " + FORMAT(-1234.5, "#,##0.00")
d = "2026-03-05 14:07:09"
TALK FORMAT(d, "DD/MM/YYYY HH:mm:ss") + " " + FORMAT(d, "YY-MM-DD")
