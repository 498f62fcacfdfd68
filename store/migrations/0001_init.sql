-- Conversations, their messages and the visitors' feedback.
CREATE TABLE conversations (
    id               TEXT PRIMARY KEY,
    token_hash       BLOB NOT NULL UNIQUE,   -- SHA-256 of the resume token; the token itself is never stored
    lang             TEXT NOT NULL,
    script           TEXT NOT NULL DEFAULT '',
    lang_chosen      INTEGER NOT NULL DEFAULT 0, -- 1 when the visitor chose the language
    channel          TEXT NOT NULL DEFAULT 'web',
    state            TEXT NOT NULL DEFAULT 'bot',  -- bot | queued | agent | closed
    last_seq         INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,       -- Unix milliseconds
    updated_at       INTEGER NOT NULL,
    token_expires_at INTEGER NOT NULL
);
CREATE INDEX conversations_state_updated ON conversations (state, updated_at);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,     -- rows are appended in order: new pages only
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    seq             INTEGER NOT NULL,
    client_id       TEXT,                    -- the visitor's id for the message, for retries
    role            TEXT NOT NULL,           -- visitor | bot | agent | system
    kind            TEXT NOT NULL,           -- message | event
    body            TEXT NOT NULL,           -- JSON
    created_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX messages_seq ON messages (conversation_id, seq);
CREATE UNIQUE INDEX messages_client_id ON messages (conversation_id, client_id) WHERE client_id IS NOT NULL;

CREATE TABLE feedback (
    conversation_id TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    helpful         INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, seq)
) WITHOUT ROWID;
