' Checks and defaults.
TALK ISEMPTY("") + " " + ISEMPTY(NULL) + " " + ISEMPTY([]) + " " + ISEMPTY(0) + " " + ISEMPTY(unset)
TALK ISNULL(NULL) + " " + ISNULL("") + " " + ISNUMERIC("3.5") + " " + ISNUMERIC("x") + " " + ISNUMERIC(7) + " " + ISNUMERIC(TRUE)
TALK TYPEOF("s") + " " + TYPEOF(1) + " " + TYPEOF(1.5) + " " + TYPEOF(TRUE) + " " + TYPEOF(NOW()) + " " + TYPEOF([]) + " " + TYPEOF({ "a": 1 }) + " " + TYPEOF(NULL)
TALK NVL("", "fallback") + " " + NVL("value", "fallback") + " " + IIF(2 > 1, "yes", "no") + " " + IIF("", "yes", "no") + " " + COALESCE(NULL, "", "third", "fourth")
