DESCRIPTION "A tool with a bad parameter type"
PARAM color AS COLOUR
