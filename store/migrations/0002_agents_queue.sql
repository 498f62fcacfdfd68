-- Agents, their sessions, the queue for a person, assignments, notes and left messages.
CREATE TABLE agents (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,            -- bcrypt
    langs         TEXT NOT NULL,            -- comma-separated: zh,en
    role          TEXT NOT NULL,            -- agent | supervisor
    max_chats     INTEGER NOT NULL DEFAULT 3,
    created_at    INTEGER NOT NULL
);

CREATE TABLE agent_sessions (
    token_hash BLOB PRIMARY KEY,            -- SHA-256 of the cookie value
    agent_id   TEXT NOT NULL REFERENCES agents (id),
    csrf       TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE queue (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations (id),
    lang            TEXT NOT NULL,
    channel         TEXT NOT NULL,
    reason          TEXT NOT NULL,
    question        TEXT NOT NULL,
    since           INTEGER NOT NULL,
    front           INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE assignments (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations (id),
    agent_id        TEXT NOT NULL REFERENCES agents (id),
    lang            TEXT NOT NULL,
    channel         TEXT NOT NULL,
    since           INTEGER NOT NULL
);

CREATE TABLE notes (
    conversation_id TEXT NOT NULL,
    agent_id        TEXT NOT NULL,
    text            TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX notes_conversation ON notes (conversation_id);

CREATE TABLE left_messages (
    id              INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    lang            TEXT NOT NULL,
    contact         TEXT NOT NULL,
    text            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    handled_by      TEXT
);

ALTER TABLE conversations ADD COLUMN resolution TEXT NOT NULL DEFAULT '';
