PARAM amount AS NUMBER
PARAM phone AS PHONE
PARAM items AS ARRAY
PARAM meta AS OBJECT
PARAM note AS TEXT OPTIONAL
DESCRIPTION "Shows how each parameter type arrives in the script"
RETURN TYPEOF(amount) + "," + TYPEOF(phone) + "," + TYPEOF(items) + "," + TYPEOF(meta) + "," + TYPEOF(note) + ":" + (amount * 2) + ":" + LEN(items) + ":" + meta.source + ":[" + note + "]"
