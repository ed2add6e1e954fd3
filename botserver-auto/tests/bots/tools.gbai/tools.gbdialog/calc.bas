PARAM a AS NUMBER DESCRIPTION "First number"
PARAM b AS NUMBER DESCRIPTION "Second number"
PARAM op AS STRING ENUM ["+", "-", "*", "/"] DESCRIPTION "The operation"
DESCRIPTION "A four-operation calculator"
SELECT CASE op
  CASE "+"
    r = a + b
  CASE "-"
    r = a - b
  CASE "*"
    r = a * b
  CASE "/"
    IF b = 0 THEN THROW "cannot divide ${a} by zero"
    r = a / b
END SELECT
RETURN r
