' The menu bot: greets the user by name, offers quick replies and a menu, and
' hands each choice to its own script.
user = GET SESSION "user_name"
email = GET "session.user_email"
channel = GET SESSION "channel"

BEGIN SYSTEM PROMPT
You are the assistant of ${company}.
Answer in one sentence.
END SYSTEM PROMPT
SET CONTEXT "hours" AS "We open at ${open_hour}h."

ADD SUGGESTION "sales" AS "Talk to sales"
ADD SUGGESTION TEXT "hours" AS "Opening hours"
TALK "Welcome to ${company}, ${user}! (${email} on ${channel})"
HEAR choice AS "Sales", "Support", "Hours", "Human" WITH "How can I help?"
SET SESSION "choice", choice

SELECT CASE choice
  CASE "Sales"
    CALL "sales.bas"
  CASE "Support"
    CALL "support.bas", user
  CASE "Hours"
    CALL "hours"
  CASE ELSE
    TRANSFER TO HUMAN "asked from the menu"
END SELECT

CLEAR SUGGESTIONS
TALK "Anything else? Just ask."
RETURN choice
