' HEAR inside a FOR loop, with DEFAULT for an empty answer, then a menu.
scores = []
FOR i = 1 TO 3
  HEAR s AS INTEGER WITH "Score for question " + i + "?" DEFAULT 5
  scores = PUSH(scores, s)
NEXT i
HEAR send AS "Yes", "No" WITH "Send the survey?"
IF send = "Yes" THEN TALK "Average " + AVG(scores) + " from " + JOIN(scores, ", ")
RETURN scores
