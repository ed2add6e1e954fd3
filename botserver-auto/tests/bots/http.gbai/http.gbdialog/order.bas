' A POST made before a HEAR is made once: later turns replay the script and get
' the recorded answer instead of calling again.
r = POST api + "/echo", { "step": 1 }
HEAR ok AS BOOLEAN WITH "Placed with " + r.method + ". Confirm?"
IF ok THEN r = POST api + "/echo", { "step": 2 }
TALK "Confirmed: " + r.body
