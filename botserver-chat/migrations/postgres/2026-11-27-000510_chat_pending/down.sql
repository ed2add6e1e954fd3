DROP INDEX chat_messages_pending;
