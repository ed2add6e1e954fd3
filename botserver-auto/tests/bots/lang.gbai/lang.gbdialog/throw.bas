' THROW raises an error; without trapping it ends the script.
TALK "about to throw"
THROW "custom problem " + 42
TALK "not reached"
