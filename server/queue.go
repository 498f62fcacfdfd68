package server

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hotline12367/hotline/protocol"
	"github.com/hotline12367/hotline/queue"
	"github.com/hotline12367/hotline/store"
)

// desk is the human side of the hub: the queue, the agents' consoles and the day's figures.
// The queue is owned by desk and guarded by mu; every change is stored before it is made in
// memory, so a restart rebuilds the same queue (desk.restore).
type desk struct {
	h *hub

	mu       sync.Mutex
	q        *queue.Queue
	consoles map[*client]struct{} // agent connections
	// visitorGone records when a waiting conversation lost its last visitor connection.
	visitorGone map[string]time.Time
	enqueued    map[string]time.Time // for first-response times
	firstResp   []time.Duration      // today's first-response times
	handled     int                  // conversations released today
	day         string               // the day the figures are for
}

func newDesk(h *hub) *desk {
	return &desk{h: h, q: queue.New(h.s.now), consoles: map[*client]struct{}{},
		visitorGone: map[string]time.Time{}, enqueued: map[string]time.Time{}}
}

// restore rebuilds the queue from the store. Agents who held conversations count as dropped
// now: if they do not come back within the grace period, their conversations go back to the
// queue.
func (d *desk) restore(ctx context.Context) error {
	s := d.h.s
	es, as, err := s.store.QueueState(ctx)
	if err != nil {
		return err
	}
	agents, err := s.store.Agents(ctx)
	if err != nil {
		return err
	}
	var qes []queue.Entry
	for _, e := range es {
		qes = append(qes, queue.Entry{ConversationID: e.ConversationID, Lang: e.Lang, Channel: e.Channel,
			Reason: e.Reason, Question: e.Question, Since: e.Since, Front: e.Front})
	}
	var qas []queue.Assignment
	for _, a := range as {
		qas = append(qas, queue.Assignment{ConversationID: a.ConversationID, AgentID: a.AgentID, Lang: a.Lang, Channel: a.Channel, Since: a.Since})
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.q = queue.Restore(s.now, qes, qas)
	for _, a := range agents {
		d.q.SetAgent(agentOf(a))
	}
	for _, a := range qas {
		d.q.Connect(a.AgentID)
		d.q.Drop(a.AgentID)
	}
	return nil
}

func agentOf(a store.Agent) queue.Agent {
	return queue.Agent{ID: a.ID, Name: a.Name, Langs: a.Langs, Role: a.Role, MaxChats: a.MaxChats}
}

// maintain runs the desk's timers: agents dropped past the grace period, visitors gone from
// the queue. Tests call it with a controlled clock instead of waiting.
func (d *desk) maintain(ctx context.Context) {
	s := d.h.s
	d.mu.Lock()
	back := d.q.Expire(s.cfg.AgentGrace)
	var gone []string
	for id, at := range d.visitorGone {
		if s.now().Sub(at) >= s.cfg.VisitorGrace {
			gone = append(gone, id)
			delete(d.visitorGone, id)
		}
	}
	d.mu.Unlock()
	for _, a := range back {
		d.h.withRoom(a.ConversationID, func(r *room) { r.requeueAfterDrop(ctx) })
	}
	for _, id := range gone {
		d.h.withRoom(id, func(r *room) { r.leaveQueue(ctx, false) })
	}
	if len(back) > 0 || len(gone) > 0 {
		d.broadcast()
	}
}

// withRoom runs fn as a job of a conversation's room.
func (h *hub) withRoom(id string, fn func(r *room)) {
	r := h.acquireRoom(id)
	if r == nil {
		return
	}
	r.submit(job{run: func(r *room) {
		if err := r.load(context.Background()); err != nil {
			h.s.log.Error("load conversation", "conversation", id, "err", err)
			return
		}
		r.mu.Lock()
		r.loaded = true
		r.mu.Unlock()
		fn(r)
	}})
	h.releaseRoom(r)
}

// visitorLeft and visitorBack track visitors of waiting conversations, so that a visitor who
// closed the page leaves the queue after the grace period, but a reload keeps the place.
func (d *desk) visitorLeft(id string) {
	d.mu.Lock()
	if d.q.Waiting(id) {
		d.visitorGone[id] = d.h.s.now()
	}
	d.mu.Unlock()
}

func (d *desk) visitorBack(id string) {
	d.mu.Lock()
	delete(d.visitorGone, id)
	d.mu.Unlock()
}

// position returns a waiting conversation's place and estimated wait in whole minutes.
func (d *desk) position(id string) (int, int, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	pos, ok := d.q.Position(id)
	if !ok {
		return 0, 0, false
	}
	return pos, int(math.Ceil(d.q.EstimatedWait(id).Minutes())), true
}

// updatePositions tells every waiting visitor their place after the queue moved.
func (d *desk) updatePositions() {
	d.mu.Lock()
	entries := d.q.Entries()
	d.mu.Unlock()
	for _, e := range entries {
		pos, wait, ok := d.position(e.ConversationID)
		if !ok {
			continue
		}
		d.h.mu.Lock()
		r := d.h.rooms[e.ConversationID]
		d.h.mu.Unlock()
		if r == nil {
			continue
		}
		r.mu.Lock()
		for c := range r.clients {
			if c.agent == nil {
				c.sendFrame(protocol.ServerFrame{Type: protocol.TypeQueue, Position: pos, WaitMin: wait})
			}
		}
		r.mu.Unlock()
	}
}

func (d *desk) rollDay() {
	today := d.h.s.now().Format(time.DateOnly)
	if d.day != today {
		d.day, d.handled, d.firstResp = today, 0, nil
	}
}

// released records a conversation an agent finished with.
func (d *desk) released(id string) {
	d.rollDay()
	d.handled++
	delete(d.enqueued, id)
}

// responded records an agent's first reply in a conversation.
func (d *desk) responded(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if at, ok := d.enqueued[id]; ok {
		d.rollDay()
		d.firstResp = append(d.firstResp, d.h.s.now().Sub(at))
		delete(d.enqueued, id)
	}
}

// state builds the snapshot one console shows. d.mu must be held.
func (d *desk) stateLocked(c *client) *protocol.ConsoleState {
	now := d.h.s.now()
	me, _ := d.q.Agent(c.agent.ID)
	st := &protocol.ConsoleState{Agent: d.agentInfo(me), Queue: []protocol.QueueItem{}, Mine: []protocol.Conversation{}}
	for _, e := range d.q.Entries() {
		pos, _ := d.q.Position(e.ConversationID)
		st.Queue = append(st.Queue, protocol.QueueItem{
			ConversationID: e.ConversationID, Lang: e.Lang, Channel: e.Channel, Reason: e.Reason,
			Question: e.Question, Since: e.Since.UTC().Format(time.RFC3339), WaitSeconds: int(now.Sub(e.Since).Seconds()),
			Position: pos,
		})
	}
	conv := func(a queue.Assignment) protocol.Conversation {
		ag, _ := d.q.Agent(a.AgentID)
		return protocol.Conversation{ID: a.ConversationID, Lang: a.Lang, Channel: a.Channel, State: store.StateAgent,
			AgentID: a.AgentID, Agent: ag.Name, Since: a.Since.UTC().Format(time.RFC3339)}
	}
	for _, a := range d.q.Assigned(me.ID) {
		st.Mine = append(st.Mine, conv(a))
	}
	for _, a := range d.q.Agents() {
		st.Agents = append(st.Agents, d.agentInfo(a))
	}
	if me.Role == "supervisor" {
		for _, a := range d.q.Agents() {
			for _, as := range d.q.Assigned(a.ID) {
				st.All = append(st.All, conv(as))
			}
		}
		qs := d.q.Stats()
		d.rollDay()
		fr := 0
		if len(d.firstResp) > 0 {
			var sum time.Duration
			for _, x := range d.firstResp {
				sum += x
			}
			fr = int((sum / time.Duration(len(d.firstResp))).Seconds())
		}
		st.Stats = &protocol.Stats{Waiting: qs.Waiting, WaitingByLang: qs.WaitingLang,
			LongestWaitSec: int(qs.LongestWait.Seconds()), FirstResponseSec: fr, HandledToday: d.handled,
			Active: qs.Active, AgentsOnline: qs.Online}
	}
	return st
}

func (d *desk) agentInfo(a queue.Agent) protocol.AgentInfo {
	status := "offline"
	switch {
	case a.Online && a.Away:
		status = "away"
	case a.Online:
		status = "online"
	}
	return protocol.AgentInfo{ID: a.ID, Name: a.Name, Langs: a.Langs, Role: a.Role, MaxChats: a.MaxChats,
		Status: status, Active: len(d.q.Assigned(a.ID))}
}

// broadcast sends every console its new snapshot, with the left messages.
func (d *desk) broadcast() {
	left := d.leftMessages()
	d.mu.Lock()
	defer d.mu.Unlock()
	for c := range d.consoles {
		st := d.stateLocked(c)
		st.LeftMessages = left
		c.sendJSON(protocol.ConsoleFrame{Type: "state", State: st})
	}
}

func (d *desk) leftMessages() []protocol.LeftMessage {
	ms, err := d.h.s.store.LeftMessages(context.Background(), 50)
	if err != nil {
		return nil
	}
	out := []protocol.LeftMessage{}
	for _, m := range ms {
		out = append(out, protocol.LeftMessage{ID: m.ID, ConversationID: m.ConversationID, Lang: m.Lang,
			Contact: m.Contact, Text: m.Text, Time: m.CreatedAt.UTC().Format(time.RFC3339)})
	}
	return out
}

// enqueueLocked puts the room's conversation in the queue and tells the visitor their place,
// or that no agent is there. r.mu must be held.
func (r *room) enqueueLocked(ctx context.Context, reason, question string) {
	d := r.h.desk
	s := r.h.s
	if r.conv.State == store.StateQueued || r.conv.State == store.StateAgent {
		return
	}
	now := s.now()
	e := store.QueueEntry{ConversationID: r.id, Lang: r.conv.Lang, Channel: r.conv.Channel, Reason: reason,
		Question: question, Since: now}
	if err := s.store.Enqueue(ctx, e); err != nil {
		s.log.Error("enqueue", "conversation", r.id, "err", err)
		return
	}
	r.conv.State = store.StateQueued
	d.mu.Lock()
	d.q.Enqueue(queue.Entry{ConversationID: e.ConversationID, Lang: e.Lang, Channel: e.Channel, Reason: reason, Question: question, Since: now})
	d.enqueued[r.id] = now
	available := d.q.AvailableFor(r.conv.Lang)
	d.mu.Unlock()
	r.announcePlaceLocked(ctx, available)
	d.broadcast()
}

// announcePlaceLocked stores the queued event with the visitor's place and wait, and the
// no-agents notice when no one can answer.
func (r *room) announcePlaceLocked(ctx context.Context, available bool) {
	s := r.h.s
	lang := r.conv.Lang
	pos, wait, _ := r.h.desk.position(r.id)
	msgs := []store.Message{{Role: store.RoleSystem, Kind: store.KindEvent, Body: mustJSON(messageBody{
		Event: protocol.EventQueued, Lang: lang, Position: pos, WaitMin: wait,
		Text: r.say(s.cat.N(lang, "QueuePosition", pos, nil) + " " + s.cat.N(lang, "QueueWait", max(wait, 1), nil)),
	})}}
	if !available || time.Duration(wait)*time.Minute > s.cfg.MaxWait {
		id := "NoAgentsOnline"
		if available {
			id = "WaitTooLong"
		}
		msgs = append(msgs, store.Message{Role: store.RoleSystem, Kind: store.KindEvent, Body: mustJSON(messageBody{
			Event: protocol.EventNoAgents, Lang: lang, Text: r.say(s.cat.T(lang, id, nil)),
		})})
	}
	if _, err := r.appendLocked(ctx, msgs...); err != nil {
		s.log.Error("store queued event", "conversation", r.id, "err", err)
	}
}

// say writes a system text in the conversation's script.
func (r *room) say(text string) string {
	if r.conv.Script == "Hant" {
		return toTraditional(text)
	}
	return text
}

// leaveQueue takes the conversation out of the queue, back to the bot. cancelled says the
// visitor chose to (they are told so); otherwise they left.
func (r *room) leaveQueue(ctx context.Context, cancelled bool) {
	d, s := r.h.desk, r.h.s
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conv.State != store.StateQueued {
		return
	}
	if err := s.store.Unqueue(ctx, r.id, store.StateBot, "", s.now()); err != nil {
		s.log.Error("unqueue", "conversation", r.id, "err", err)
		return
	}
	d.mu.Lock()
	d.q.Remove(r.id)
	delete(d.enqueued, r.id)
	d.mu.Unlock()
	r.conv.State = store.StateBot
	if cancelled {
		if _, err := r.appendLocked(ctx, store.Message{Role: store.RoleSystem, Kind: store.KindEvent, Body: mustJSON(messageBody{
			Event: protocol.EventQueueLeft, Lang: r.conv.Lang, Text: r.say(s.cat.T(r.conv.Lang, "QueueCancelled", nil)),
		})}); err != nil {
			s.log.Error("store queue left", "conversation", r.id, "err", err)
		}
	}
	d.broadcast()
	d.updatePositions()
}

// requeueAfterDrop tells the visitor their agent left and stores their place at the front.
func (r *room) requeueAfterDrop(ctx context.Context) {
	s := r.h.s
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.h.desk
	d.mu.Lock()
	e, ok := entryOf(d.q, r.id)
	d.mu.Unlock()
	if !ok {
		return
	}
	if err := s.store.Enqueue(ctx, store.QueueEntry{ConversationID: r.id, Lang: e.Lang, Channel: e.Channel,
		Reason: e.Reason, Question: e.Question, Since: e.Since, Front: true}); err != nil {
		s.log.Error("requeue", "conversation", r.id, "err", err)
		return
	}
	r.detachAgentsLocked()
	r.conv.State = store.StateQueued
	if _, err := r.appendLocked(ctx, store.Message{Role: store.RoleSystem, Kind: store.KindEvent, Body: mustJSON(messageBody{
		Event: protocol.EventAgentLeft, Lang: r.conv.Lang, Text: r.say(s.cat.T(r.conv.Lang, "AgentLeft", nil)),
	})}); err != nil {
		s.log.Error("store agent left", "conversation", r.id, "err", err)
	}
	d.mu.Lock()
	available := d.q.AvailableFor(r.conv.Lang)
	d.mu.Unlock()
	r.announcePlaceLocked(ctx, available)
}

func entryOf(q *queue.Queue, id string) (queue.Entry, bool) {
	for _, e := range q.Entries() {
		if e.ConversationID == id {
			return e, true
		}
	}
	return queue.Entry{}, false
}

// detachAgentsLocked removes agent consoles from the room. r.mu must be held.
func (r *room) detachAgentsLocked() {
	for c := range r.clients {
		if c.agent != nil {
			delete(r.clients, c)
			c.forget(r)
		}
	}
}

// errNotYours is returned for console actions on a conversation the agent does not hold.
var errNotYours = errors.New("server: conversation not yours")

// holds reports whether the agent has the conversation (or is a supervisor).
func (d *desk) holds(c *client, id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c.agent.Role == "supervisor" {
		return true
	}
	a, ok := d.q.Assignment(id)
	return ok && a.AgentID == c.agent.ID
}

// endSession closes the console connections of a console session that has ended (logged
// out): the session no longer lets them act.
func (d *desk) endSession(session string) {
	d.mu.Lock()
	var ended []*client
	for c := range d.consoles {
		if c.session == session {
			ended = append(ended, c)
		}
	}
	d.mu.Unlock()
	for _, c := range ended {
		c.stop(websocket.ClosePolicyViolation, "logged_out")
	}
}
