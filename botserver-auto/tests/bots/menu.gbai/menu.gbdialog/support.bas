PARAM person AS STRING DESCRIPTION "Who needs help"
DESCRIPTION "Opens a support ticket"
' Called from the menu with the user's name; asks for the problem.
HEAR issue AS TEXT WITH "Describe the problem, " + person + "."
ticket = "T-" + LEN(issue)
TALK "Ticket ${ticket} opened for ${person}: ${issue}"
RETURN ticket
