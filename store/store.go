// Package store keeps conversations, messages, feedback and resume tokens in an embedded
// SQLite database (modernc.org/sqlite: pure Go, so the binary stays static). Migrations are
// embedded and run by Open.
package store

import (
	"encoding/json"
	"errors"
	"time"
)

// Errors callers test with errors.Is.
var (
	ErrNotFound  = errors.New("store: not found")
	ErrDuplicate = errors.New("store: duplicate client id")
	ErrClosed    = errors.New("store: closed")
	// ErrNotOwner is AppendAll's answer in a process that opened the database while another
	// one (a running server) owns its message journal.
	ErrNotOwner = errors.New("store: another process (a running server?) owns this database's message journal")
)

// Conversation states.
const (
	StateBot    = "bot"    // the bot answers
	StateQueued = "queued" // waiting for a human agent
	StateAgent  = "agent"  // an agent has it
	StateClosed = "closed"
)

// Conversation is one visitor's conversation.
type Conversation struct {
	ID             string
	TokenHash      []byte
	Lang           string
	Script         string
	LangChosen     bool // the visitor chose Lang; otherwise each message's language is detected
	Channel        string
	ChannelUser    string // the user on a channel without a WebSocket (a WeChat openid)
	State          string
	LastSeq        int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
	TokenExpiresAt time.Time
}

// Message roles and kinds.
const (
	RoleVisitor = "visitor"
	RoleBot     = "bot"
	RoleAgent   = "agent"
	RoleSystem  = "system"

	KindMessage = "message"
	KindEvent   = "event"
)

// Message is one stored message or event of a conversation. Seq numbers start at 1 and
// have no gaps.
type Message struct {
	ConversationID string
	Seq            int64
	ClientID       string // set on visitor messages
	Role           string
	Kind           string
	Body           json.RawMessage
	CreatedAt      time.Time
}
