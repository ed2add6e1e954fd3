x = 1
IF x = 1 THEN
  TALK "one"
