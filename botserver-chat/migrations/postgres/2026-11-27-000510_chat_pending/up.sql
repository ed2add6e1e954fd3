-- The messages still waiting for an answer, by session and number: finding a session's next
-- one reads one entry instead of scanning its whole log (queries name the literal 'pending').
CREATE INDEX chat_messages_pending ON chat_messages (session_id, seq) WHERE status = 'pending';
