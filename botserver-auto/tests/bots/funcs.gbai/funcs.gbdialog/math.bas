' Math functions.
TALK ABS(-3) + " " + ABS(2.5) + " " + ROUND(2.567, 2) + " " + ROUND(-2.4) + " " + INT(-2.5) + " " + FIX(-2.5) + " " + FLOOR(2.7) + " " + CEIL(2.1)
TALK MAX(3, 9, 4) + " " + MIN([5, 2, 8]) + " " + 17 MOD 5 + " " + SGN(-4) + SGN(0) + SGN(2) + " " + SQRT(16) + " " + POW(2, 8)
TALK EXP(0) + " " + ROUND(EXP(1), 5) + " " + LOG(1) + " " + ROUND(LOG(100), 4)
TALK SUM(1, 2, 3) + " " + SUM([1.5, 2.5]) + " " + AVG(2, 4, 9) + " " + COUNT([1, 2, 3]) + " " + COUNT("abc")
r = RND()
d = RANDOM(1, 6)
TALK IIF(r >= 0 AND r < 1, "rnd in [0,1)", "rnd out") + ", " + IIF(d = INT(d) AND d >= 1 AND d <= 6, "dice in 1..6", "dice out")
