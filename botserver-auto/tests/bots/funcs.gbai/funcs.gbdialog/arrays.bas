' Array functions; they return new arrays.
a = [3, 1, 2]
TALK UBOUND(a) + " " + LBOUND(a) + " " + SIZE(a)
a = PUSH(a, 5)
a = APPEND(a, 4)
TALK JOIN(a, ",")
TALK POP(a) + " " + JOIN(a, ",")
TALK CONTAINS(a, 2) + " " + CONTAINS(a, 9) + " " + CONTAINS("hello", "ell")
TALK JOIN(SORT(a), ",") + " " + JOIN(SORT(["b", "c", "a"], "desc"), ",") + " " + JOIN(UNIQUE([1, 2, 1, "1", 2]), ",")
TALK JOIN(REVERSE(a), ",") + " " + REVERSE("abc")
TALK JOIN(SLICE(a, 1, 3), ",") + " " + JOIN(SLICE(a, -2), ",") + " " + FIRST(a) + " " + LAST(a) + " [" + FIRST([]) + "]"
