' Mail through the bot's mailer: SEND MAIL, SEND EMAIL and a BEGIN MAIL block.
SEND MAIL "ana@example.com", "Your order", "Order 7 is ready."
SEND EMAIL "bo@example.com; cy@example.com", "Hello", "Two recipients"
who = "dan@example.com"
BEGIN MAIL who
Subject: Invoice ${6 * 7}
Dear ${who},
your invoice is attached.
END MAIL
TALK "3 mails sent"
