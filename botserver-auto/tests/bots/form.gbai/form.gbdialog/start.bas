' A registration form: every answer is typed, validated and converted; a wrong
' answer is asked again. The row is saved and read back.
TALK "Let's get you registered."
HEAR name AS NAME WITH "Your full name?"
HEAR age AS INTEGER WITH "How old are you?"
IF age < min_age THEN
  TALK "Sorry, you must be at least ${min_age}."
  RETURN "too young"
END IF
HEAR email AS EMAIL WITH "Your e-mail?"
HEAR phone AS PHONE WITH "Your phone?"
HEAR born AS DATE WITH "Date of birth?"
HEAR budget AS MONEY WITH "Monthly budget?"
HEAR news AS BOOLEAN WITH "Newsletter?"
CALL AskSite

SAVE "people.csv", name, age, email, phone, born, budget, news, site
birthday = FORMAT(born, "DD/MM/YYYY")
money = FORMAT(budget, "#,##0.00")
wants = IIF(news, "yes", "no")
BEGIN TALK
Thanks, ${name}!
Age ${age}, born ${birthday}, budget ${money}.
Newsletter: ${wants}. Site: ${site}
END TALK
rows = FIND "people", "email = ${email}"
RETURN FIRST(rows)

SUB AskSite
  HEAR site AS URL WITH "Your website? (empty for none)" DEFAULT "https://example.com"
END SUB
