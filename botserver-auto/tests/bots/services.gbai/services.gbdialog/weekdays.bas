' Runs at 08:30:00 on weekdays (a 6-field cron with seconds).
SET SCHEDULE "0 30 8 * * 1-5"
TALK "Good morning"
