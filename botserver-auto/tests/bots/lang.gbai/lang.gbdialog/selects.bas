' SELECT CASE with lists of values and CASE ELSE; SWITCH with DEFAULT.
FOR EACH v IN [1, 3, 5, "b", "z"]
  SELECT CASE v
    CASE 1
      TALK "one"
    CASE 2, 3, 4
      TALK "two to four"
    CASE "a", "b"
      TALK "a or b"
    CASE ELSE
      TALK "else " + v
  END SELECT
NEXT
SELECT CASE 1
  CASE 1
    TALK "first match"
  CASE 1
    TALK "second match"
END SELECT
SWITCH "b"
  CASE "a"
    TALK "switch a"
  CASE "b"
    TALK "switch b"
  DEFAULT
    TALK "switch default"
END SWITCH
SWITCH 9
  CASE 1
    TALK "nine is one?"
  DEFAULT
    TALK "switch default"
END SWITCH
