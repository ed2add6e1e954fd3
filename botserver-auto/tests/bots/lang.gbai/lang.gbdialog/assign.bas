' Assignment in every form; names ignore case.
x = 1
LET y = 2
SET z = 3
let w = 4
Total = x + y + z + w
TALK "total " + TOTAL + " " + total
