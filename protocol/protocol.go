// Package protocol defines the JSON frames of the visitor chat WebSocket (GET /ws), shared by
// the server, the Go client and the load tool. docs/protocol.md is its prose contract.
package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Frame types sent by the client.
const (
	TypeHello    = "hello"    // first frame: start or resume a conversation
	TypeMessage  = "message"  // a visitor message (also sent by the server, with a seq)
	TypeLang     = "lang"     // choose or switch language
	TypeTyping   = "typing"   // typing indicator (both directions)
	TypeFeedback = "feedback" // was this answer helpful?
	TypeSync     = "sync"     // ask again for messages after a seq
)

// Frame types sent by the server.
const (
	TypeWelcome = "welcome" // answer to hello
	TypeAck     = "ack"     // a client frame was stored
	TypeEvent   = "event"   // something happened to the conversation (stored, with a seq)
	TypeError   = "error"
)

// Events carried by TypeEvent frames.
const (
	EventLanguage    = "language"     // the conversation's language changed
	EventQueued      = "queued"       // waiting for an agent: position and estimated wait
	EventAgentJoined = "agent_joined" // an agent took the conversation
	EventAgentLeft   = "agent_left"   // the agent handed back to the bot
	EventClosed      = "closed"       // the conversation is closed
)

// Senders of messages.
const (
	FromVisitor = "visitor"
	FromBot     = "bot"
	FromAgent   = "agent"
	FromSystem  = "system"
)

// ClientFrame is any frame a client sends. Type says which fields matter.
type ClientFrame struct {
	Type string `json:"type"`
	// hello
	ResumeToken string `json:"resume_token,omitempty"`
	LastSeq     int64  `json:"last_seq,omitempty"`
	// hello, lang: a BCP 47 tag or one of zh en fr es ru ar; "auto" (lang only) goes back
	// to detecting the language of each message
	Lang string `json:"lang,omitempty"`
	// message: a client-generated id (1 to 64 characters) and the text
	ID   string `json:"id,omitempty"`
	Text string `json:"text,omitempty"`
	// typing
	On bool `json:"on,omitempty"`
	// leave_message: how to reach the visitor (phone, e-mail, WeChat id)
	Contact string `json:"contact,omitempty"`
	// feedback: the seq of the bot message and the verdict; sync: the seq to resume after
	Seq     int64 `json:"seq,omitempty"`
	Helpful *bool `json:"helpful,omitempty"`
}

// MaxIDLength is the longest client message id.
const MaxIDLength = 64

// Errors of Decode.
var (
	ErrBadJSON     = errors.New("protocol: bad json")
	ErrUnknownType = errors.New("protocol: unknown frame type")
	ErrBadField    = errors.New("protocol: missing or invalid field")
)

// Decode parses one client frame and checks that the fields its type needs are there.
func Decode(b []byte) (ClientFrame, error) {
	var f ClientFrame
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("%w: %v", ErrBadJSON, err)
	}
	switch f.Type {
	case TypeHello, TypeTyping, TypeSync, TypeHandoff, TypeCancel:
	case TypeMessage:
		if f.ID == "" || len(f.ID) > MaxIDLength {
			return f, fmt.Errorf("%w: id", ErrBadField)
		}
	case TypeLeaveMessage:
		if f.Text == "" || f.Contact == "" {
			return f, fmt.Errorf("%w: text and contact", ErrBadField)
		}
	case TypeLang:
		if f.Lang == "" {
			return f, fmt.Errorf("%w: lang", ErrBadField)
		}
	case TypeFeedback:
		if f.Seq <= 0 || f.Helpful == nil {
			return f, fmt.Errorf("%w: seq and helpful", ErrBadField)
		}
	case "":
		return f, fmt.Errorf("%w: no type", ErrBadField)
	default:
		return f, fmt.Errorf("%w: %q", ErrUnknownType, f.Type)
	}
	if f.LastSeq < 0 || f.Seq < 0 {
		return f, fmt.Errorf("%w: negative seq", ErrBadField)
	}
	return f, nil
}

// ServerFrame is any frame the server sends.
type ServerFrame struct {
	Type string `json:"type"`
	// welcome
	ConversationID string     `json:"conversation_id,omitempty"`
	ResumeToken    string     `json:"resume_token,omitempty"`
	Resumed        bool       `json:"resumed,omitempty"`
	State          string     `json:"state,omitempty"`    // bot | queued | agent | closed
	Messages       []Message  `json:"messages,omitempty"` // welcome, sync: what came after last_seq
	More           bool       `json:"more,omitempty"`     // more messages wait: send sync
	Lang           string     `json:"lang,omitempty"`
	Script         string     `json:"script,omitempty"`
	LangChosen     bool       `json:"lang_chosen,omitempty"`
	Message        *Message   `json:"message,omitempty"` // message, event: the stored message
	ID             string     `json:"id,omitempty"`      // ack: the client's message id
	Seq            int64      `json:"seq,omitempty"`
	Duplicate      bool       `json:"duplicate,omitempty"` // ack: the id was already stored
	From           string     `json:"from,omitempty"`      // typing
	On             *bool      `json:"on,omitempty"`        // typing
	Error          *ErrorBody `json:"error,omitempty"`
	// queue (welcome too, when the conversation waits): the visitor's place and estimated wait
	Position int `json:"position,omitempty"`
	WaitMin  int `json:"wait_minutes,omitempty"`
}

// ErrorBody is a stable code and a message in the visitor's language.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Ref is the client message id the error is about, when there is one.
	Ref string `json:"ref,omitempty"`
}

// Message is one stored message or event of a conversation, as clients see it.
type Message struct {
	Seq  int64  `json:"seq"`
	Kind string `json:"kind"` // message | event
	From string `json:"from"` // visitor | bot | agent | system
	// ClientID is the visitor's id for their own messages.
	ClientID string `json:"client_id,omitempty"`
	Text     string `json:"text,omitempty"`
	Lang     string `json:"lang,omitempty"`
	Time     string `json:"time"` // RFC 3339, UTC
	// Answer is set on bot answers.
	Answer *Answer `json:"answer,omitempty"`
	// Event is set on events, with the fields below as they apply.
	Event    string `json:"event,omitempty"`
	Position int    `json:"position,omitempty"`
	WaitMin  int    `json:"wait_minutes,omitempty"`
	Agent    string `json:"agent,omitempty"`
}

// Answer is what the bot knows about its answer.
type Answer struct {
	FAQID      string       `json:"faq_id,omitempty"`
	Kind       string       `json:"kind,omitempty"`
	Confidence float64      `json:"confidence"`
	Handoff    bool         `json:"handoff"`
	Reason     string       `json:"reason,omitempty"`
	Source     *Source      `json:"source,omitempty"`
	AsOf       string       `json:"as_of,omitempty"`
	Related    []Suggestion `json:"related,omitempty"`
	Script     string       `json:"script,omitempty"`
	// OfferAgent is set on the bot's reply to "not helpful" feedback.
	OfferAgent bool `json:"offer_agent,omitempty"`
}

// Source names where an answer's facts come from.
type Source struct {
	Speaker  string `json:"speaker"`
	Outlet   string `json:"outlet"`
	Document string `json:"document"`
}

// Suggestion is a related question.
type Suggestion struct {
	ID       string `json:"id"`
	Question string `json:"question"`
}
