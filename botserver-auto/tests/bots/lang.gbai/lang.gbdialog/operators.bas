' Operators and their precedence; + joins when a side is text.
TALK 7 + 3 & "|" & 7 - 3 & "|" & 7 * 3 & "|" & 7 / 2 & "|" & 7 MOD 3 & "|" & 2 ^ 10 & "|" & 8 / 4
TALK "ID: " + 42
TALK 1 + 2 & 3
TALK (2 + 3) * 4 & " " & 2 + 3 * 4 & " " & -3.5 + 1 & " " & -2 ^ 2 & " " & 2 * -3
TALK (3 = 3) & " " & (3 == 4) & " " & (3 <> 4) & " " & (3 != 3) & " " & (2 < 3) & " " & (3 <= 2) & " " & (4 > 3) & " " & (3 >= 3)
TALK (TRUE AND FALSE) & " " & (TRUE OR FALSE) & " " & (NOT FALSE) & " " & (TRUE && FALSE) & " " & (FALSE || TRUE) & " " & (!TRUE)
TALK ("apple" < "banana") & " " & ("10" < "9") & " " & (10 < 9)
fruits = ["apple", "pear"]
IF "pear" IN fruits THEN TALK "pear in"
IF "kiwi" NOT IN fruits THEN TALK "kiwi not in"
IF "ell" IN "hello" THEN TALK "substring in"
IF "k" IN { "k": 1 } THEN TALK "key in"
IF NOT ("apple" IN fruits) THEN TALK "never" ELSE TALK "not in parentheses"
