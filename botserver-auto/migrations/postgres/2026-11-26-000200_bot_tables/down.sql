-- The per-bot tables the catalog names are left in place.
DROP TABLE bot_tables;
