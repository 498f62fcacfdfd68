package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Agent is an agent account.
type Agent struct {
	ID           string
	Name         string
	PasswordHash string
	Langs        []string
	Role         string // agent | supervisor
	MaxChats     int
	CreatedAt    time.Time
}

// ErrExists is returned when creating an agent whose name is taken.
var ErrExists = errors.New("store: already exists")

// CreateAgent stores a new agent account.
func (s *SQLite) CreateAgent(ctx context.Context, a Agent) error {
	err := s.do(ctx, func(tx *wtx) error {
		_, err := tx.Exec(`INSERT INTO agents (id, name, password_hash, langs, role, max_chats, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, a.ID, a.Name, a.PasswordHash, strings.Join(a.Langs, ","), a.Role, a.MaxChats, ms(a.CreatedAt))
		if err != nil && strings.Contains(err.Error(), "UNIQUE") {
			return ErrExists
		}
		return err
	})
	return err
}

// SetAgentPassword replaces an agent's password hash.
func (s *SQLite) SetAgentPassword(ctx context.Context, name, hash string) error {
	return s.exec(ctx, `UPDATE agents SET password_hash = ? WHERE name = ?`, hash, name)
}

func scanAgent(row interface{ Scan(...any) error }) (Agent, error) {
	var a Agent
	var langs string
	var created int64
	err := row.Scan(&a.ID, &a.Name, &a.PasswordHash, &langs, &a.Role, &a.MaxChats, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return a, ErrNotFound
	}
	if err != nil {
		return a, fmt.Errorf("store: %w", err)
	}
	a.Langs = strings.Split(langs, ",")
	a.CreatedAt = fromMS(created)
	return a, nil
}

const agentColumns = `id, name, password_hash, langs, role, max_chats, created_at`

// AgentByName returns the agent with a name, or ErrNotFound.
func (s *SQLite) AgentByName(ctx context.Context, name string) (Agent, error) {
	return scanAgent(s.read.QueryRowContext(ctx, `SELECT `+agentColumns+` FROM agents WHERE name = ?`, name))
}

// Agent returns the agent with an id, or ErrNotFound.
func (s *SQLite) Agent(ctx context.Context, id string) (Agent, error) {
	return scanAgent(s.read.QueryRowContext(ctx, `SELECT `+agentColumns+` FROM agents WHERE id = ?`, id))
}

// Agents returns every agent.
func (s *SQLite) Agents(ctx context.Context) ([]Agent, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+agentColumns+` FROM agents ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	var out []Agent
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// AgentSession is a logged-in console session.
type AgentSession struct {
	TokenHash []byte
	AgentID   string
	CSRF      string
	ExpiresAt time.Time
}

// CreateSession stores a console session.
func (s *SQLite) CreateSession(ctx context.Context, a AgentSession) error {
	return s.do(ctx, func(tx *wtx) error {
		_, err := tx.Exec(`INSERT INTO agent_sessions (token_hash, agent_id, csrf, expires_at) VALUES (?, ?, ?, ?)`,
			a.TokenHash, a.AgentID, a.CSRF, ms(a.ExpiresAt))
		return err
	})
}

// Session returns the session whose token hashes to hash, or ErrNotFound.
func (s *SQLite) Session(ctx context.Context, hash []byte) (AgentSession, error) {
	var a AgentSession
	var exp int64
	err := s.read.QueryRowContext(ctx, `SELECT token_hash, agent_id, csrf, expires_at FROM agent_sessions WHERE token_hash = ?`, hash).
		Scan(&a.TokenHash, &a.AgentID, &a.CSRF, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return a, ErrNotFound
	}
	if err != nil {
		return a, fmt.Errorf("store: %w", err)
	}
	a.ExpiresAt = fromMS(exp)
	return a, nil
}

// DeleteSession ends a console session.
func (s *SQLite) DeleteSession(ctx context.Context, hash []byte) error {
	return s.do(ctx, func(tx *wtx) error {
		_, err := tx.Exec(`DELETE FROM agent_sessions WHERE token_hash = ?`, hash)
		return err
	})
}

// QueueEntry is a stored place in the queue.
type QueueEntry struct {
	ConversationID, Lang, Channel, Reason, Question string
	Since                                           time.Time
	Front                                           bool
}

// Assignment is a stored assignment of a conversation to an agent.
type Assignment struct {
	ConversationID, AgentID, Lang, Channel string
	Since                                  time.Time
}

// Enqueue stores a conversation's place in the queue (replacing any) and sets its state.
func (s *SQLite) Enqueue(ctx context.Context, e QueueEntry) error {
	return s.do(ctx, func(tx *wtx) error {
		if _, err := tx.Exec(`DELETE FROM assignments WHERE conversation_id = ?`, e.ConversationID); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT OR REPLACE INTO queue (conversation_id, lang, channel, reason, question, since, front)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, e.ConversationID, e.Lang, e.Channel, e.Reason, e.Question, ms(e.Since), e.Front); err != nil {
			return err
		}
		_, err := tx.Exec(`UPDATE conversations SET state = 'queued' WHERE id = ?`, e.ConversationID)
		return err
	})
}

// Assign stores that an agent has a conversation: out of the queue, state agent.
func (s *SQLite) Assign(ctx context.Context, a Assignment) error {
	return s.do(ctx, func(tx *wtx) error {
		if _, err := tx.Exec(`DELETE FROM queue WHERE conversation_id = ?`, a.ConversationID); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT OR REPLACE INTO assignments (conversation_id, agent_id, lang, channel, since)
			VALUES (?, ?, ?, ?, ?)`, a.ConversationID, a.AgentID, a.Lang, a.Channel, ms(a.Since)); err != nil {
			return err
		}
		_, err := tx.Exec(`UPDATE conversations SET state = 'agent' WHERE id = ?`, a.ConversationID)
		return err
	})
}

// Unqueue takes a conversation out of the queue and any assignment, moving it to state
// (bot or closed) with a resolution note for closed ones.
func (s *SQLite) Unqueue(ctx context.Context, conversationID, state, resolution string, at time.Time) error {
	return s.do(ctx, func(tx *wtx) error {
		if _, err := tx.Exec(`DELETE FROM queue WHERE conversation_id = ?`, conversationID); err != nil {
			return err
		}
		if _, err := tx.Exec(`DELETE FROM assignments WHERE conversation_id = ?`, conversationID); err != nil {
			return err
		}
		_, err := tx.Exec(`UPDATE conversations SET state = ?, resolution = ?, updated_at = ? WHERE id = ?`,
			state, resolution, ms(at), conversationID)
		return err
	})
}

// QueueState returns the stored queue and assignments.
func (s *SQLite) QueueState(ctx context.Context) ([]QueueEntry, []Assignment, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT conversation_id, lang, channel, reason, question, since, front FROM queue`)
	if err != nil {
		return nil, nil, fmt.Errorf("store: %w", err)
	}
	var es []QueueEntry
	for rows.Next() {
		var e QueueEntry
		var since int64
		if err := rows.Scan(&e.ConversationID, &e.Lang, &e.Channel, &e.Reason, &e.Question, &since, &e.Front); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("store: %w", err)
		}
		e.Since = fromMS(since)
		es = append(es, e)
	}
	rows.Close()
	rows, err = s.read.QueryContext(ctx, `SELECT conversation_id, agent_id, lang, channel, since FROM assignments`)
	if err != nil {
		return nil, nil, fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	var as []Assignment
	for rows.Next() {
		var a Assignment
		var since int64
		if err := rows.Scan(&a.ConversationID, &a.AgentID, &a.Lang, &a.Channel, &since); err != nil {
			return nil, nil, fmt.Errorf("store: %w", err)
		}
		a.Since = fromMS(since)
		as = append(as, a)
	}
	return es, as, rows.Err()
}

// Note is an agent's internal note on a conversation; visitors never see notes.
type Note struct {
	ConversationID, AgentID, Text string
	CreatedAt                     time.Time
}

// AddNote stores a note.
func (s *SQLite) AddNote(ctx context.Context, n Note) error {
	return s.do(ctx, func(tx *wtx) error {
		_, err := tx.Exec(`INSERT INTO notes (conversation_id, agent_id, text, created_at) VALUES (?, ?, ?, ?)`,
			n.ConversationID, n.AgentID, n.Text, ms(n.CreatedAt))
		return err
	})
}

// Notes returns a conversation's notes, oldest first.
func (s *SQLite) Notes(ctx context.Context, conversationID string) ([]Note, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT agent_id, text, created_at FROM notes WHERE conversation_id = ? ORDER BY created_at, rowid`, conversationID)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	var out []Note
	for rows.Next() {
		n := Note{ConversationID: conversationID}
		var at int64
		if err := rows.Scan(&n.AgentID, &n.Text, &at); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		n.CreatedAt = fromMS(at)
		out = append(out, n)
	}
	return out, rows.Err()
}

// LeftMessage is a message a visitor left when no agent could take the conversation.
type LeftMessage struct {
	ID                                  int64
	ConversationID, Lang, Contact, Text string
	CreatedAt                           time.Time
	HandledBy                           string
}

// LeaveMessage stores a left message.
func (s *SQLite) LeaveMessage(ctx context.Context, m LeftMessage) error {
	return s.do(ctx, func(tx *wtx) error {
		_, err := tx.Exec(`INSERT INTO left_messages (conversation_id, lang, contact, text, created_at) VALUES (?, ?, ?, ?, ?)`,
			m.ConversationID, m.Lang, m.Contact, m.Text, ms(m.CreatedAt))
		return err
	})
}

// LeftMessages returns the left messages, newest first.
func (s *SQLite) LeftMessages(ctx context.Context, limit int) ([]LeftMessage, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, conversation_id, lang, contact, text, created_at, coalesce(handled_by, '')
		FROM left_messages ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	var out []LeftMessage
	for rows.Next() {
		var m LeftMessage
		var at int64
		if err := rows.Scan(&m.ID, &m.ConversationID, &m.Lang, &m.Contact, &m.Text, &at, &m.HandledBy); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		m.CreatedAt = fromMS(at)
		out = append(out, m)
	}
	return out, rows.Err()
}
