' SUBs and FUNCTIONs, declared anywhere; parameters and locals stay local.
total = 0
n = 100
CALL Add(5)
CALL Add(7)
TALK "total " + total
TALK "fact " + Fact(5)
TALK "twice " + Twice(Twice(3)) + ", n still " + n
CALL SetTemp
TALK "temp is local: [" + ReadTemp() + "]"
CALL Greet
Call greet

SUB Add(amount)
  total = total + amount
END SUB

FUNCTION Fact(n)
  IF n <= 1 THEN RETURN 1
  RETURN n * Fact(n - 1)
END FUNCTION

FUNCTION Twice(n AS NUMBER)
  RETURN n * 2
END FUNCTION

SUB SetTemp
  temp = 5
END SUB

FUNCTION ReadTemp()
  RETURN temp
END FUNCTION

SUB Greet
  TALK greeting + " from a SUB"
END SUB
