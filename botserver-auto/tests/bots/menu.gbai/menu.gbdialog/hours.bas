' Opening hours for a day the user picks (WEEKDAY: 1 is Sunday, 7 is Saturday).
HEAR day AS DATE WITH "Which day?"
SWITCH WEEKDAY(day)
  CASE 1, 7
    TALK "Closed on weekends."
  CASE 6
    TALK "Friday: ${open_hour}h to 14h."
  DEFAULT
    TALK "Open ${FORMAT(day, "DD/MM")} from ${open_hour}h to 18h."
END SWITCH
