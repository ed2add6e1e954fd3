DROP TABLE bot_memory;
DROP TABLE dialog_scripts;
DROP INDEX dialog_sessions_bot;
DROP INDEX dialog_sessions_wake;
DROP TABLE dialog_sessions;
