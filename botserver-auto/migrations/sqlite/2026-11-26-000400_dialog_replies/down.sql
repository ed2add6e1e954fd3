DROP TABLE dialog_replies;
