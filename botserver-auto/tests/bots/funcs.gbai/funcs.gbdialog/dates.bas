' Date functions on a fixed date (2024-02-29 is a Thursday: WEEKDAY 5).
d = "2024-02-29 13:45:30"
TALK YEAR(d) + "-" + MONTH(d) + "-" + DAY(d) + " " + HOUR(d) + ":" + MINUTE(d) + ":" + SECOND(d) + " weekday " + WEEKDAY(d)
TALK DATEADD(d, 1, "year") + " | " + DATEADD("2024-01-31", 1, "month") + " | " + DATEADD(d, -1, "day") + " | " + DATEADD(d, 2, "hours") + " | " + DATEADD(d, 1, "week")
TALK DATEDIFF("2024-01-01", "2024-03-01") + " " + DATEDIFF("2024-01-01", "2025-06-01", "month") + " " + DATEDIFF("2024-01-01", "2025-06-01", "year") + " " + DATEDIFF("2024-01-01 00:00:00", "2024-01-01 12:30:00", "minute")
n = NOW()
t = TODAY()
TALK TYPEOF(n) + " " + TYPEOF(t) + " " + FORMAT(t, "HH:mm:ss") + " " + IIF(YEAR(n) >= 2025, "recent", "old") + " " + IIF(t <= n AND DATEDIFF(t, n, "day") = 0, "today", "?")
TALK ISDATE("2024-02-30") + " " + ISDATE("31/12/2026") + " " + ISDATE(n)
