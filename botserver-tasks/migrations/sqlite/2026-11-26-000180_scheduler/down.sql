DROP TABLE sched_runs;
DROP TABLE sched_jobs;
