' The bot every server ships with: it works with no language model configured, answering
' questions from its own small knowledge base (default.gbkb).
name = GET SESSION "user_name"
IF name = "" THEN
  TALK "Hello! I am the default bot of this botserver."
ELSE
  TALK "Hello, ${name}! I am the default bot of this botserver."
END IF
DO
  HEAR choice AS "What can you do?", "How do I make my own bot?", "Ask a question", "Goodbye" WITH "What would you like to know?"
  SELECT CASE choice
    CASE "What can you do?"
      BEGIN TALK
      I run dialogs written in BASIC: I can ask questions, check answers,
      keep notes in tables, call web services and hand over to a person.
      END TALK
    CASE "How do I make my own bot?"
      BEGIN TALK
      Put a folder `<name>.gbai` in the server's bots folder with a
      `<name>.gbdialog/start.bas` script; it is picked up within a second.
      Check it with `botserver bot check <folder>`.
      END TALK
    CASE "Ask a question"
      HEAR question WITH "What is your question? (about botserver, bots, knowledge bases or models)"
      hits = []
      ON ERROR RESUME NEXT
      hits = THINK KB question
      ON ERROR GOTO 0
      IF ISEMPTY(hits) THEN
        TALK "I don't know that yet. Try asking in other words."
      ELSE
        best = FIRST(hits)
        TALK best.text
        TALK "Source: " + best.source
      END IF
    CASE "Goodbye"
      TALK "Goodbye! Write again whenever you like."
      EXIT DO
  END SELECT
LOOP
