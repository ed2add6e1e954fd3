' The tool bot offers its tools to the LLM for the session and a button that
' starts the booking tool directly.
ADD TOOL "booking"
USE TOOL "order_status.bas"
ADD SUGGESTION TOOL "booking" AS "Book a table"
TALK "I can book tables at ${restaurant} and check orders."
HEAR more AS BOOLEAN WITH "Do you also need the calculator?"
IF more THEN
  ADD TOOL "calc"
  USE TOOL "calc"
ELSE
  CLEAR TOOLS
END IF
TALK "Ready."
