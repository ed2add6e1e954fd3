PARAM guest AS STRING LIKE "Maria" DESCRIPTION "Who is coming"
PARAM day AS DATE DESCRIPTION "The day, as YYYY-MM-DD"
PARAM people AS INTEGER DESCRIPTION "How many people"
PARAM vegan AS BOOLEAN OPTIONAL
PARAM room AS STRING ENUM ["hall", "garden"] OPTIONAL DESCRIPTION "Where to sit"
PARAM email AS EMAIL OPTIONAL
DESCRIPTION "Book a table at the restaurant"
IF ISEMPTY(room) THEN room = "hall"
extra = IIF(vegan, " (vegan)", "")
TALK "Booked ${people} at ${restaurant} for ${guest} on ${FORMAT(day, "DD/MM/YYYY")} in the ${room}${extra}."
RETURN { "guest": guest, "day": day, "people": people, "room": room, "vegan": vegan, "email": email }
