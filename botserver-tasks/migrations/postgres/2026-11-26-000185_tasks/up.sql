-- The task list: people's to-do items, scoped to an organization. `assignee` is a user
-- id, or a name or e-mail address as a script wrote it; `created_by` a user id or
-- `bot:<name>`; `tags` a JSON array of lower-case texts. Times are Unix milliseconds;
-- `remind_ms` is when to remind the assignee (through the scheduler) and `reminded_ms`
-- when that happened.
CREATE TABLE tasks (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    assignee TEXT NOT NULL,
    created_by TEXT NOT NULL,
    bot_id TEXT,
    due_ms BIGINT,
    status TEXT NOT NULL,
    priority TEXT NOT NULL,
    tags TEXT NOT NULL,
    project TEXT,
    remind_ms BIGINT,
    reminded_ms BIGINT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX tasks_org_assignee ON tasks (org_id, assignee);
CREATE INDEX tasks_org_project ON tasks (org_id, project);
CREATE INDEX tasks_due ON tasks (due_ms);
