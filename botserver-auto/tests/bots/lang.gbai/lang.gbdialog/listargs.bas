' Called without PARAMs: the arguments arrive in ARGS.
TALK "args: " + JOIN(args, ",") + " (" + LEN(args) + ")"
r = 99
