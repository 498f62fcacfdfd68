-- One index entry per message instead of two: the seq index carries the visitor's client id,
-- so a retry is found in the conversation's entries of that index, and storing a message
-- writes one index page where it wrote two. Seqs stay unique in fact: the one writer gives
-- each message the next seq in the transaction that stores it, after looking for the client id.
DROP INDEX messages_client_id;
DROP INDEX messages_seq;
CREATE INDEX messages_seq ON messages (conversation_id, seq, client_id);
