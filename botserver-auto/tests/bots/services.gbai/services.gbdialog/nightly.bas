' Runs every night at 02:00 (a 5-field cron).
SET SCHEDULE "0 2 * * *"
SAVE "runs", { "id": "nightly", "at": NOW() }
