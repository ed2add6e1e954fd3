' The remaining HEAR types: a plain HEAR, TEXT, STRING, NUMBER, UUID, and a menu
' whose options come from an array.
HEAR anything
HEAR note AS TEXT WITH "A note?"
HEAR word AS STRING WITH "A word?"
HEAR n AS NUMBER WITH "A number?"
HEAR id AS UUID WITH "An id?"
colors = ["Red", "Green", "Blue"]
HEAR color AS colors WITH "A color?"
TALK TYPEOF(anything) + ": " + anything
TALK note + " / " + word
TALK TYPEOF(n) + " " + (n * 2)
TALK id
TALK color
