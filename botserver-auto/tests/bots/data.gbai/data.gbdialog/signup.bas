' A row INSERTed before a HEAR is written once, though the script is replayed at
' the next turn (a second INSERT of the same key would be a conflict).
INSERT "signups", { "id": "s1", "step": "started" }
HEAR name AS NAME WITH "Your name?"
UPDATE "signups", "id = 's1'", { "name": name, "step": "done" }
TALK "Signed up " + name + ": " + FIRST(FIND("signups")).step
