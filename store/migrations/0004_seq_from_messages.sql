-- A conversation's last seq is the largest seq of its messages (the messages_seq index finds
-- it at once), so that storing a message no longer rewrites its conversation's row and index
-- entries: one write of the conversation per message cost more than the message itself.
ALTER TABLE conversations DROP COLUMN last_seq;
