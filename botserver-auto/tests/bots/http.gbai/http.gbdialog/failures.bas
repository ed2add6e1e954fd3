' An HTTP error status is an error the script sees: trapped, or ending the script.
ON ERROR RESUME NEXT
r = GET api + "/missing"
TALK "status: " + ERROR MESSAGE
ON ERROR RESUME NEXT
r = SOAP api + "/soap", "GetUser", { "id": 1 }
TALK "soap: " + ERROR MESSAGE
ON ERROR GOTO 0
r = GET api + "/missing"
TALK "not reached"
