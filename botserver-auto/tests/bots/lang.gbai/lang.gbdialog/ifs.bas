' IF in every form.
x = 5
IF x > 3 THEN TALK "one-line then"
IF x > 10 THEN TALK "no" ELSE TALK "one-line else"
IF x = 1 THEN
  TALK "one"
ELSEIF x = 5 THEN
  TALK "elseif five"
ELSE
  TALK "other"
END IF
IF x < 0 THEN
  TALK "negative"
ELSE IF x < 5 THEN
  TALK "small"
ELSE
  TALK "else branch"
END IF
IF x > 100 THEN
  TALK "never"
END IF
if x == 5 and not (x <> 5) then talk "lowercase keywords"
If X = 5 Then Talk "names ignore case"
