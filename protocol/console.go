package protocol

import (
	"encoding/json"
	"fmt"
)

// Visitor frames for the human-agent queue (client to server).
const (
	TypeHandoff      = "handoff"       // the visitor asks for a person (the button)
	TypeCancel       = "cancel"        // the visitor leaves the queue, back to the bot
	TypeLeaveMessage = "leave_message" // no agent: a message and a way to be contacted
	TypeQueue        = "queue"         // server to visitor: the queue position changed (not stored)
)

// More events carried by TypeEvent frames.
const (
	EventNoAgents     = "no_agents"       // no agent online, or the wait is too long: offer the phone line and a message
	EventMessageLeft  = "message_left"    // the visitor's left message is recorded
	EventQueueLeft    = "queue_left"      // the visitor left the queue
	EventDeliveryFail = "delivery_failed" // a message could not reach the visitor's channel (WeChat)
)

// Agent console frames (client to server), on GET /agent/ws.
const (
	AgentPresence = "presence"    // status: online | away
	AgentClaim    = "claim"       // conversation_id: take it from the queue
	AgentNext     = "next"        // take the next conversation the queue offers this agent
	AgentOpen     = "open"        // conversation_id: get its history and notes (yours, or any for supervisors)
	AgentReply    = "reply"       // conversation_id, id, text: a message to the visitor
	AgentSendFAQ  = "send_faq"    // conversation_id, id, faq_id: a vetted FAQ answer, in the visitor's language
	AgentCanned   = "send_canned" // conversation_id, id, canned: a canned response, in the visitor's language
	AgentSuggest  = "suggest"     // conversation_id: FAQ entries nearest the visitor's last question
	AgentTyping   = "typing"      // conversation_id, on
	AgentNote     = "note"        // conversation_id, text: an internal note the visitor never sees
	AgentTransfer = "transfer"    // conversation_id, to_agent or to_lang
	AgentHandback = "handback"    // conversation_id: back to the bot
	AgentClose    = "close"       // conversation_id, resolution
)

// AgentFrame is any frame the console sends.
type AgentFrame struct {
	Type           string `json:"type"`
	ConversationID string `json:"conversation_id,omitempty"`
	ID             string `json:"id,omitempty"`
	Text           string `json:"text,omitempty"`
	FAQID          string `json:"faq_id,omitempty"`
	Canned         string `json:"canned,omitempty"`
	On             bool   `json:"on,omitempty"`
	Status         string `json:"status,omitempty"`
	ToAgent        string `json:"to_agent,omitempty"`
	ToLang         string `json:"to_lang,omitempty"`
	Resolution     string `json:"resolution,omitempty"`
	// Lang is the language the agent reads suggestions in (one of the agent's languages).
	Lang string `json:"lang,omitempty"`
}

// DecodeAgent parses one console frame and checks the fields its type needs.
func DecodeAgent(b []byte) (AgentFrame, error) {
	var f AgentFrame
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("%w: %v", ErrBadJSON, err)
	}
	needConv := func() error {
		if f.ConversationID == "" {
			return fmt.Errorf("%w: conversation_id", ErrBadField)
		}
		return nil
	}
	switch f.Type {
	case AgentPresence:
		if f.Status != "online" && f.Status != "away" {
			return f, fmt.Errorf("%w: status", ErrBadField)
		}
	case AgentNext:
	case AgentClaim, AgentOpen, AgentSuggest, AgentTyping, AgentHandback, AgentClose:
		return f, needConv()
	case AgentReply, AgentNote:
		if err := needConv(); err != nil {
			return f, err
		}
		if f.Text == "" || f.Type == AgentReply && (f.ID == "" || len(f.ID) > MaxIDLength) {
			return f, fmt.Errorf("%w: id and text", ErrBadField)
		}
	case AgentSendFAQ, AgentCanned:
		if err := needConv(); err != nil {
			return f, err
		}
		if f.ID == "" || len(f.ID) > MaxIDLength || f.FAQID == "" && f.Canned == "" {
			return f, fmt.Errorf("%w: id and faq_id or canned", ErrBadField)
		}
	case AgentTransfer:
		if err := needConv(); err != nil {
			return f, err
		}
		if f.ToAgent == "" && f.ToLang == "" {
			return f, fmt.Errorf("%w: to_agent or to_lang", ErrBadField)
		}
	case "":
		return f, fmt.Errorf("%w: no type", ErrBadField)
	default:
		return f, fmt.Errorf("%w: %q", ErrUnknownType, f.Type)
	}
	return f, nil
}

// ConsoleFrame is any frame the server sends to a console. Message and event frames for the
// conversations an agent holds have the same shape as the visitor's, with conversation_id.
type ConsoleFrame struct {
	Type           string        `json:"type"` // state, history, message, event, typing, suggestions, ack, error
	ConversationID string        `json:"conversation_id,omitempty"`
	Message        *Message      `json:"message,omitempty"`
	Messages       []Message     `json:"messages,omitempty"`
	Notes          []Note        `json:"notes,omitempty"`
	Conversation   *Conversation `json:"conversation,omitempty"`
	State          *ConsoleState `json:"state,omitempty"`
	Suggestions    []FAQOption   `json:"suggestions,omitempty"`
	Canned         []CannedReply `json:"canned,omitempty"`
	On             *bool         `json:"on,omitempty"`
	From           string        `json:"from,omitempty"`
	ID             string        `json:"id,omitempty"`
	Seq            int64         `json:"seq,omitempty"`
	Error          *ErrorBody    `json:"error,omitempty"`
}

// ConsoleState is the snapshot a console shows: sent on connect and whenever it changes.
type ConsoleState struct {
	Agent        AgentInfo      `json:"agent"`
	Queue        []QueueItem    `json:"queue"`
	Mine         []Conversation `json:"mine"`
	All          []Conversation `json:"all,omitempty"`    // supervisors: every conversation held by an agent
	Agents       []AgentInfo    `json:"agents,omitempty"` // supervisors; everyone gets names for transfers
	Stats        *Stats         `json:"stats,omitempty"`  // supervisors
	LeftMessages []LeftMessage  `json:"left_messages,omitempty"`
}

// AgentInfo describes an agent.
type AgentInfo struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Langs    []string `json:"langs"`
	Role     string   `json:"role"`
	MaxChats int      `json:"max_chats"`
	Status   string   `json:"status"` // online, away, offline
	Active   int      `json:"active"`
}

// QueueItem is a waiting conversation as the console lists it.
type QueueItem struct {
	ConversationID string `json:"conversation_id"`
	Lang           string `json:"lang"`
	Channel        string `json:"channel"`
	Reason         string `json:"reason"`
	Question       string `json:"question"`
	Since          string `json:"since"` // RFC 3339
	WaitSeconds    int    `json:"wait_seconds"`
	Position       int    `json:"position"`
}

// Conversation is a conversation held by an agent.
type Conversation struct {
	ID      string `json:"id"`
	Lang    string `json:"lang"`
	Script  string `json:"script,omitempty"`
	Channel string `json:"channel"`
	State   string `json:"state"`
	AgentID string `json:"agent_id,omitempty"`
	Agent   string `json:"agent,omitempty"`
	Since   string `json:"since,omitempty"`
	// Delivery is set when the visitor's channel refused a message (WeChat's 48-hour window
	// or reply quota): the agent sees why the visitor may not get replies.
	Delivery string `json:"delivery,omitempty"`
}

// Note is an internal note.
type Note struct {
	Agent string `json:"agent"`
	Text  string `json:"text"`
	Time  string `json:"time"`
}

// FAQOption is an FAQ entry suggested to an agent: shown in the agent's language, sent in
// the visitor's.
type FAQOption struct {
	FAQID       string  `json:"faq_id"`
	Confidence  float64 `json:"confidence"`
	Question    string  `json:"question"`     // agent's language
	Answer      string  `json:"answer"`       // agent's language
	VisitorText string  `json:"visitor_text"` // what the visitor will receive
	AsOf        string  `json:"as_of,omitempty"`
}

// CannedReply is a canned response: shown in the agent's language, sent in the visitor's.
type CannedReply struct {
	ID          string `json:"id"`
	Text        string `json:"text"`
	VisitorText string `json:"visitor_text"`
}

// Stats are the supervisors' live figures.
type Stats struct {
	Waiting          int            `json:"waiting"`
	WaitingByLang    map[string]int `json:"waiting_by_lang"`
	LongestWaitSec   int            `json:"longest_wait_seconds"`
	FirstResponseSec int            `json:"first_response_seconds"` // average today
	HandledToday     int            `json:"handled_today"`
	Active           int            `json:"active"`
	AgentsOnline     int            `json:"agents_online"`
}

// LeftMessage is a message a visitor left for follow-up.
type LeftMessage struct {
	ID             int64  `json:"id"`
	ConversationID string `json:"conversation_id"`
	Lang           string `json:"lang"`
	Contact        string `json:"contact"`
	Text           string `json:"text"`
	Time           string `json:"time"`
}
