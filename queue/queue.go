// Package queue is the human-agent queue: who waits for a person, in what order, which agent
// is online, away or at capacity, and who has which conversation. It is pure bookkeeping with
// an injected clock and no I/O; the server owns one Queue, persists every change, and rebuilds
// it from the database at start-up (Restore), so the queue and every assignment survive a
// restart.
package queue

import (
	"errors"
	"slices"
	"sort"
	"time"
)

// Errors callers test with errors.Is.
var (
	ErrNotQueued    = errors.New("queue: conversation is not waiting")
	ErrAtCapacity   = errors.New("queue: agent is at capacity")
	ErrUnknownAgent = errors.New("queue: unknown agent")
	ErrNotAssigned  = errors.New("queue: conversation is not the agent's")
)

// Entry is a conversation waiting for an agent.
type Entry struct {
	ConversationID string
	Lang           string
	Channel        string // web, wechat
	Reason         string // why it was handed off: low_confidence, requested, out_of_scope, feedback
	Question       string // the visitor's message that triggered the handoff
	Since          time.Time
	// Front puts the entry before every entry without it: a conversation whose agent dropped
	// goes back to the front of the queue.
	Front bool
}

// Agent is an agent's live state.
type Agent struct {
	ID       string
	Name     string
	Langs    []string
	Role     string // agent, supervisor
	MaxChats int
	Online   bool
	Away     bool
	// DroppedAt is when the agent's last connection went away; zero while connected.
	DroppedAt time.Time
}

// Assignment is a conversation an agent has.
type Assignment struct {
	ConversationID string
	AgentID        string
	Lang           string
	Channel        string
	Since          time.Time
}

// Queue is the queue. It is not safe for concurrent use: its owner (the server's hub)
// serializes access.
type Queue struct {
	now     func() time.Time
	entries []Entry // in queue order: Front first, then by Since
	agents  map[string]*Agent
	assign  map[string]Assignment // by conversation id
	// handled keeps recent handling times (claim to close), newest last, for wait estimates.
	handled []time.Duration
}

// New returns an empty queue reading time from now.
func New(now func() time.Time) *Queue {
	return &Queue{now: now, agents: map[string]*Agent{}, assign: map[string]Assignment{}}
}

// Restore rebuilds a queue from what the database kept.
func Restore(now func() time.Time, entries []Entry, assignments []Assignment) *Queue {
	q := New(now)
	for _, e := range entries {
		q.insert(e)
	}
	for _, a := range assignments {
		q.assign[a.ConversationID] = a
	}
	return q
}

func (q *Queue) insert(e Entry) {
	i := sort.Search(len(q.entries), func(i int) bool { return before(e, q.entries[i]) })
	q.entries = slices.Insert(q.entries, i, e)
}

// before reports whether a is served before b: front entries first, then first come.
func before(a, b Entry) bool {
	if a.Front != b.Front {
		return a.Front
	}
	return a.Since.Before(b.Since)
}

// Enqueue adds a conversation, or leaves it where it is if it already waits.
func (q *Queue) Enqueue(e Entry) {
	if q.Waiting(e.ConversationID) {
		return
	}
	if e.Since.IsZero() {
		e.Since = q.now()
	}
	q.insert(e)
}

// Waiting reports whether a conversation is in the queue.
func (q *Queue) Waiting(id string) bool {
	return slices.ContainsFunc(q.entries, func(e Entry) bool { return e.ConversationID == id })
}

// Remove takes a conversation out of the queue (the visitor cancelled or left).
func (q *Queue) Remove(id string) bool {
	i := slices.IndexFunc(q.entries, func(e Entry) bool { return e.ConversationID == id })
	if i < 0 {
		return false
	}
	q.entries = slices.Delete(q.entries, i, i+1)
	return true
}

// Entries returns the queue in order.
func (q *Queue) Entries() []Entry { return slices.Clone(q.entries) }

// Position returns a waiting conversation's place among those of its language (1 = next)
// and false when it does not wait. Within a language it is first come, first served.
func (q *Queue) Position(id string) (int, bool) {
	i := slices.IndexFunc(q.entries, func(e Entry) bool { return e.ConversationID == id })
	if i < 0 {
		return 0, false
	}
	pos := 1
	for _, e := range q.entries[:i] {
		if e.Lang == q.entries[i].Lang {
			pos++
		}
	}
	return pos, true
}

// SetAgent adds or updates an agent's account details, keeping its live state.
func (q *Queue) SetAgent(a Agent) {
	if old := q.agents[a.ID]; old != nil {
		a.Online, a.Away, a.DroppedAt = old.Online, old.Away, old.DroppedAt
	}
	if a.MaxChats <= 0 {
		a.MaxChats = 3
	}
	q.agents[a.ID] = &a
}

// Agent returns an agent's state.
func (q *Queue) Agent(id string) (Agent, bool) {
	a := q.agents[id]
	if a == nil {
		return Agent{}, false
	}
	return *a, true
}

// Agents returns every agent, by name.
func (q *Queue) Agents() []Agent {
	out := make([]Agent, 0, len(q.agents))
	for _, a := range q.agents {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Connect marks an agent online (a console connection opened).
func (q *Queue) Connect(id string) error {
	a := q.agents[id]
	if a == nil {
		return ErrUnknownAgent
	}
	a.Online, a.DroppedAt = true, time.Time{}
	return nil
}

// SetAway sets an agent's presence: away agents get no new conversations.
func (q *Queue) SetAway(id string, away bool) error {
	a := q.agents[id]
	if a == nil {
		return ErrUnknownAgent
	}
	a.Away = away
	return nil
}

// Drop records that an agent's last connection went away; Expire hands their conversations
// back to the queue once the grace period has passed.
func (q *Queue) Drop(id string) {
	if a := q.agents[id]; a != nil && a.Online {
		a.Online, a.DroppedAt = false, q.now()
	}
}

// Expire puts back at the front of the queue the conversations of agents dropped for longer
// than grace, and returns them.
func (q *Queue) Expire(grace time.Duration) []Assignment {
	var out []Assignment
	now := q.now()
	for _, a := range q.agents {
		if a.Online || a.DroppedAt.IsZero() || now.Sub(a.DroppedAt) < grace {
			continue
		}
		for _, as := range q.Assigned(a.ID) {
			delete(q.assign, as.ConversationID)
			q.insert(Entry{ConversationID: as.ConversationID, Lang: as.Lang, Channel: as.Channel,
				Reason: "agent_dropped", Since: as.Since, Front: true})
			out = append(out, as)
		}
		a.DroppedAt = time.Time{}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ConversationID < out[j].ConversationID })
	return out
}

// Assigned returns an agent's conversations, oldest first.
func (q *Queue) Assigned(agentID string) []Assignment {
	var out []Assignment
	for _, a := range q.assign {
		if a.AgentID == agentID {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out
}

// Assignment returns who has a conversation.
func (q *Queue) Assignment(id string) (Assignment, bool) {
	a, ok := q.assign[id]
	return a, ok
}

// Claim gives a waiting conversation to an agent, within the agent's capacity.
func (q *Queue) Claim(agentID, conversationID string) (Assignment, error) {
	a := q.agents[agentID]
	if a == nil {
		return Assignment{}, ErrUnknownAgent
	}
	i := slices.IndexFunc(q.entries, func(e Entry) bool { return e.ConversationID == conversationID })
	if i < 0 {
		return Assignment{}, ErrNotQueued
	}
	if len(q.Assigned(agentID)) >= a.MaxChats {
		return Assignment{}, ErrAtCapacity
	}
	e := q.entries[i]
	q.entries = slices.Delete(q.entries, i, i+1)
	as := Assignment{ConversationID: e.ConversationID, AgentID: agentID, Lang: e.Lang, Channel: e.Channel, Since: q.now()}
	q.assign[e.ConversationID] = as
	return as, nil
}

// Next returns the conversation an agent should take next: the first waiting in one of the
// agent's languages, else the first of any language. It reports false when none waits or the
// agent cannot take more.
func (q *Queue) Next(agentID string) (Entry, bool) {
	a := q.agents[agentID]
	if a == nil || !a.Online || a.Away || len(q.Assigned(agentID)) >= a.MaxChats || len(q.entries) == 0 {
		return Entry{}, false
	}
	for _, e := range q.entries {
		if slices.Contains(a.Langs, e.Lang) {
			return e, true
		}
	}
	return q.entries[0], true
}

// Release ends an assignment (handed back to the bot, closed, transferred) and records how
// long it was handled.
func (q *Queue) Release(conversationID string) (Assignment, bool) {
	a, ok := q.assign[conversationID]
	if !ok {
		return a, false
	}
	delete(q.assign, conversationID)
	q.handled = append(q.handled, q.now().Sub(a.Since))
	if len(q.handled) > 50 {
		q.handled = q.handled[len(q.handled)-50:]
	}
	return a, true
}

// Transfer moves an assigned conversation to another agent, or back to the queue front in
// another language when toAgent is empty.
func (q *Queue) Transfer(conversationID, toAgent, toLang string) (Assignment, error) {
	a, ok := q.assign[conversationID]
	if !ok {
		return Assignment{}, ErrNotAssigned
	}
	if toAgent == "" {
		delete(q.assign, conversationID)
		lang := a.Lang
		if toLang != "" {
			lang = toLang
		}
		q.insert(Entry{ConversationID: conversationID, Lang: lang, Channel: a.Channel, Reason: "transfer", Since: a.Since, Front: true})
		return Assignment{}, nil
	}
	to := q.agents[toAgent]
	if to == nil {
		return Assignment{}, ErrUnknownAgent
	}
	if len(q.Assigned(toAgent)) >= to.MaxChats {
		return Assignment{}, ErrAtCapacity
	}
	a.AgentID, a.Since = toAgent, q.now()
	q.assign[conversationID] = a
	return a, nil
}

// AvailableFor reports whether an agent who can take a conversation in lang is online (any
// language counts when none speaks it).
func (q *Queue) AvailableFor(lang string) bool {
	for _, a := range q.agents {
		if a.Online && !a.Away {
			return true
		}
	}
	return false
}

// DefaultHandleTime is the handling time assumed before any conversation was handled.
const DefaultHandleTime = 4 * time.Minute

// EstimatedWait estimates how long a waiting conversation will wait, from recent handling
// times, its position and the agents online: position × average handling time ÷ agents.
func (q *Queue) EstimatedWait(id string) time.Duration {
	pos, ok := q.Position(id)
	if !ok {
		return 0
	}
	avg := DefaultHandleTime
	if len(q.handled) > 0 {
		var sum time.Duration
		for _, d := range q.handled {
			sum += d
		}
		avg = sum / time.Duration(len(q.handled))
	}
	agents := 0
	for _, a := range q.agents {
		if a.Online && !a.Away {
			agents += a.MaxChats
		}
	}
	if agents == 0 {
		agents = 1
	}
	return time.Duration(pos) * avg / time.Duration(agents)
}

// Stats are the live figures supervisors see.
type Stats struct {
	Waiting     int            `json:"waiting"`
	WaitingLang map[string]int `json:"waiting_by_lang"`
	LongestWait time.Duration  `json:"longest_wait_ns"`
	Active      int            `json:"active"`
	Online      int            `json:"agents_online"`
}

// Stats returns the queue's live figures.
func (q *Queue) Stats() Stats {
	st := Stats{Waiting: len(q.entries), WaitingLang: map[string]int{}, Active: len(q.assign)}
	now := q.now()
	for _, e := range q.entries {
		st.WaitingLang[e.Lang]++
		st.LongestWait = max(st.LongestWait, now.Sub(e.Since))
	}
	for _, a := range q.agents {
		if a.Online {
			st.Online++
		}
	}
	return st
}
