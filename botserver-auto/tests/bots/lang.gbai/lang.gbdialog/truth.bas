' Truthiness: empty text, NULL, 0, FALSE and an empty array are false.
vals = ["", NULL, 0, FALSE, [], "0", "x", 1, -1, TRUE, [0], { "k": 1 }, 0.5]
out = ""
FOR EACH v IN vals
  IF v THEN out = out + "T" ELSE out = out + "F"
NEXT
TALK out
IF NOT never_set THEN TALK "an unset variable is empty"
IF never_set = "" AND NULL = "" THEN TALK "NULL and empty text are both empty"
IF "Yes" <> "yes" THEN TALK "text compares case-sensitively"
IF "4" = 4 THEN TALK "numeric text equals its number"
