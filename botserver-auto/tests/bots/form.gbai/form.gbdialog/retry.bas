' Three invalid answers end the HEAR with an error the script can trap.
ON ERROR RESUME NEXT
HEAR qty AS INTEGER WITH "How many?"
IF ERR THEN
  TALK "Giving up: " + ERROR MESSAGE
  qty = 1
END IF
ON ERROR GOTO 0
TALK "Quantity " + qty
RETURN qty
