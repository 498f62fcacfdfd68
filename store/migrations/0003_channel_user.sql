-- The user of a conversation on a channel without a WebSocket (a WeChat openid).
ALTER TABLE conversations ADD COLUMN channel_user TEXT NOT NULL DEFAULT '';
