package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/hotline12367/hotline/kb"
	"github.com/hotline12367/hotline/protocol"
	"github.com/hotline12367/hotline/queue"
	"github.com/hotline12367/hotline/store"
)

// cannedIDs are the canned responses an agent can send, by their message id in locales/.
var cannedIDs = []string{"CannedPleaseWait", "CannedMoreDetails", "CannedAnythingElse", "CannedGoodbye"}

// handleAgentWS opens an agent console's WebSocket: GET /agent/ws. It needs a console session
// (401 otherwise) and a page of this host (403 otherwise): a visitor connection, or a page of
// another site riding an agent's cookie, can never act as an agent.
func (s *Server) handleAgentWS(w http.ResponseWriter, r *http.Request) {
	lang := s.acceptLanguage(r).Lang
	a, session, err := s.session(r.Context(), r)
	if err != nil {
		writeJSON(w, http.StatusUnauthorized, map[string]ErrorBody{"error": s.errorBody(lang, CodeUnauthorized)})
		return
	}
	if !sameOrigin(r) {
		writeJSON(w, http.StatusForbidden, map[string]ErrorBody{"error": s.errorBody(lang, CodeForbidden)})
		return
	}
	select {
	case <-s.closing:
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	default:
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &client{
		s: s, conn: conn, ip: clientIP(r), hint: s.acceptLanguage(r), agent: a, session: string(session),
		rooms: map[*room]struct{}{}, send: make(chan []byte, 256), quit: make(chan struct{}), welcomed: make(chan struct{}), closed: make(chan struct{}),
	}
	close(c.welcomed)
	if !s.hub.register(c) {
		c.refuse("")
		return
	}
	s.metrics.connections.Inc()
	d := s.hub.desk
	d.mu.Lock()
	d.consoles[c] = struct{}{}
	if _, ok := d.q.Agent(a.ID); !ok {
		if acc, err := s.store.Agent(r.Context(), a.ID); err == nil {
			d.q.SetAgent(agentOf(acc))
		}
	}
	_ = d.q.Connect(a.ID)
	d.mu.Unlock()
	s.log.Info("console connected", "agent", a.ID)
	c.sendCanned()
	d.broadcast()
	d.updatePositions()
	go c.agentReadPump()
}

// sendCanned sends the console its canned responses, in the agent's first language.
func (c *client) sendCanned() {
	lang := c.agent.Langs[0]
	var out []protocol.CannedReply
	for _, id := range cannedIDs {
		out = append(out, protocol.CannedReply{ID: id, Text: c.s.cat.T(lang, id, nil)})
	}
	c.sendJSON(protocol.ConsoleFrame{Type: "canned", Canned: out})
}

func (c *client) sendJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.s.log.Error("encode frame", "err", err)
		return
	}
	c.enqueue(b)
}

func (c *client) consoleError(code, conversationID, ref string) {
	c.s.metrics.errors.WithLabelValues(code).Inc()
	eb := c.s.errorBody(c.agent.Langs[0], code)
	c.sendJSON(protocol.ConsoleFrame{Type: "error", ConversationID: conversationID,
		Error: &protocol.ErrorBody{Code: eb.Code, Message: eb.Message, Ref: ref}})
}

// forget removes a room from an agent connection's rooms.
func (c *client) forget(r *room) {
	c.mu.Lock()
	delete(c.rooms, r)
	c.mu.Unlock()
	r.h.releaseRoom(r)
}

// watch attaches an agent connection to a room, so that it gets the conversation live.
// r.mu must be held.
func (c *client) watchLocked(r *room) {
	c.mu.Lock()
	_, ok := c.rooms[r]
	if !ok {
		c.rooms[r] = struct{}{}
	}
	c.mu.Unlock()
	if !ok {
		r.h.mu.Lock()
		r.refs++
		r.h.mu.Unlock()
	}
	r.clients[c] = struct{}{}
}

func (c *client) agentReadPump() {
	s, d := c.s, c.s.hub.desk
	defer func() {
		c.mu.Lock()
		rooms := make([]*room, 0, len(c.rooms))
		for r := range c.rooms {
			rooms = append(rooms, r)
		}
		c.mu.Unlock()
		for _, r := range rooms {
			r.mu.Lock()
			delete(r.clients, c)
			r.mu.Unlock()
			c.forget(r)
		}
		d.mu.Lock()
		delete(d.consoles, c)
		still := false
		for o := range d.consoles {
			still = still || o.agent.ID == c.agent.ID
		}
		if !still {
			d.q.Drop(c.agent.ID)
		}
		d.mu.Unlock()
		s.hub.unregister(c)
		s.metrics.connections.Dec()
		c.finish()
		d.broadcast()
		s.log.Info("console disconnected", "agent", c.agent.ID)
	}()
	c.conn.SetReadLimit(4 * maxFrameSize)
	c.conn.SetReadDeadline(time.Now().Add(pongWait))
	c.conn.SetPongHandler(func(string) error { return c.conn.SetReadDeadline(time.Now().Add(pongWait)) })
	for {
		b, err := c.readFrame()
		if err != nil {
			if errors.Is(err, errFrameTooLarge) || errors.Is(err, websocket.ErrReadLimit) {
				c.consoleError(CodeTooLong, "", "")
				c.stop(websocket.CloseMessageTooBig, CodeTooLong)
			}
			return
		}
		s.metrics.messagesIn.Inc()
		f, err := protocol.DecodeAgent(b)
		if err != nil {
			code := CodeBadJSON
			if errors.Is(err, protocol.ErrUnknownType) {
				code = CodeUnknownType
			}
			c.consoleError(code, f.ConversationID, f.ID)
			continue
		}
		if f.Type == protocol.AgentReply || f.Type == protocol.AgentNote {
			f.Text = strings.TrimSpace(f.Text)
			if f.Text == "" {
				c.consoleError(CodeEmpty, f.ConversationID, f.ID)
				continue
			}
			if utf8.RuneCountInString(f.Text) > MaxQuestionRunes {
				c.consoleError(CodeTooLong, f.ConversationID, f.ID)
				continue
			}
		}
		c.agentFrame(f)
	}
}

// agentFrame carries out one console action. Actions on a conversation run as jobs of its
// room, in order with the visitor's messages.
func (c *client) agentFrame(f protocol.AgentFrame) {
	s, d := c.s, c.s.hub.desk
	switch f.Type {
	case protocol.AgentPresence:
		d.mu.Lock()
		_ = d.q.SetAway(c.agent.ID, f.Status == "away")
		d.mu.Unlock()
		d.broadcast()
		return
	case protocol.AgentNext:
		d.mu.Lock()
		e, ok := d.q.Next(c.agent.ID)
		d.mu.Unlock()
		if !ok {
			c.consoleError(CodeNotFound, "", "")
			return
		}
		f.ConversationID = e.ConversationID
		f.Type = protocol.AgentClaim
	}
	id := f.ConversationID
	if f.Type != protocol.AgentClaim && !d.holds(c, id) {
		c.consoleError(CodeForbidden, id, f.ID)
		return
	}
	s.hub.withRoom(id, func(r *room) {
		ctx := context.Background()
		switch f.Type {
		case protocol.AgentClaim:
			r.claim(ctx, c)
		case protocol.AgentOpen:
			r.open(ctx, c)
		case protocol.AgentReply:
			r.agentMessage(ctx, c, f.ID, f.Text, nil)
		case protocol.AgentSendFAQ:
			r.sendFAQ(ctx, c, f)
		case protocol.AgentCanned:
			if !slices.Contains(cannedIDs, f.Canned) {
				c.consoleError(CodeNotFound, id, f.ID)
				return
			}
			r.agentMessage(ctx, c, f.ID, s.cat.T(r.conv.Lang, f.Canned, nil), nil)
		case protocol.AgentSuggest:
			r.suggest(ctx, c, f.Lang)
		case protocol.AgentTyping:
			on := f.On
			r.mu.Lock()
			for o := range r.clients {
				if o.agent == nil {
					o.sendFrame(protocol.ServerFrame{Type: protocol.TypeTyping, From: protocol.FromAgent, On: &on})
				}
			}
			r.channelTyping(on)
			r.mu.Unlock()
		case protocol.AgentNote:
			r.note(ctx, c, f.Text)
		case protocol.AgentTransfer:
			r.transfer(ctx, c, f.ToAgent, f.ToLang)
		case protocol.AgentHandback:
			r.release(ctx, c, store.StateBot, "")
		case protocol.AgentClose:
			r.release(ctx, c, store.StateClosed, f.Resolution)
		}
	})
}

// claim gives the waiting conversation to the agent. The consoles and the waiting visitors
// hear of it after the room's lock is released: updatePositions locks the room of every
// waiting conversation.
func (r *room) claim(ctx context.Context, c *client) {
	if r.claimLocked(ctx, c) {
		r.h.desk.broadcast()
		r.h.desk.updatePositions()
	}
}

func (r *room) claimLocked(ctx context.Context, c *client) bool {
	s, d := r.h.s, r.h.desk
	r.mu.Lock()
	defer r.mu.Unlock()
	d.mu.Lock()
	as, err := d.q.Claim(c.agent.ID, r.id)
	d.mu.Unlock()
	if err != nil {
		code := CodeNotFound
		if errors.Is(err, queue.ErrAtCapacity) {
			code = CodeForbidden
		}
		c.consoleError(code, r.id, "")
		return false
	}
	if err := s.store.Assign(ctx, store.Assignment{ConversationID: r.id, AgentID: c.agent.ID, Lang: as.Lang,
		Channel: as.Channel, Since: as.Since}); err != nil {
		s.log.Error("assign", "conversation", r.id, "err", err)
		d.mu.Lock()
		d.q.Release(r.id)
		d.q.Enqueue(queue.Entry{ConversationID: r.id, Lang: as.Lang, Channel: as.Channel, Since: as.Since, Front: true})
		d.mu.Unlock()
		c.consoleError(CodeInternal, r.id, "")
		return false
	}
	r.conv.State = store.StateAgent
	c.watchLocked(r)
	if _, err := r.appendLocked(ctx, store.Message{Role: store.RoleSystem, Kind: store.KindEvent, Body: mustJSON(messageBody{
		Event: protocol.EventAgentJoined, Lang: r.conv.Lang, Agent: c.agent.Name,
		Text: r.say(s.cat.T(r.conv.Lang, "AgentJoined", map[string]any{"Name": c.agent.Name})),
	})}); err != nil {
		s.log.Error("store agent joined", "conversation", r.id, "err", err)
	}
	r.sendHistoryLocked(ctx, c)
	return true
}

// open sends the agent the whole conversation and keeps them watching it.
func (r *room) open(ctx context.Context, c *client) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c.watchLocked(r)
	r.sendHistoryLocked(ctx, c)
}

func (r *room) sendHistoryLocked(ctx context.Context, c *client) {
	s := r.h.s
	msgs, err := s.store.MessagesAfter(ctx, r.id, 0, 2000)
	if err != nil {
		c.consoleError(CodeInternal, r.id, "")
		return
	}
	notes, _ := s.store.Notes(ctx, r.id)
	var ns []protocol.Note
	for _, n := range notes {
		name := n.AgentID
		if a, err := s.store.Agent(ctx, n.AgentID); err == nil {
			name = a.Name
		}
		ns = append(ns, protocol.Note{Agent: name, Text: n.Text, Time: n.CreatedAt.UTC().Format(time.RFC3339)})
	}
	conv := &protocol.Conversation{ID: r.id, Lang: r.conv.Lang, Script: r.conv.Script, Channel: r.conv.Channel,
		State: r.conv.State, Delivery: r.delivery}
	c.sendJSON(protocol.ConsoleFrame{Type: "history", ConversationID: r.id, Conversation: conv,
		Messages: toWire(msgs), Notes: ns})
}

// agentMessage stores an agent's message to the visitor and acknowledges it to the agent.
func (r *room) agentMessage(ctx context.Context, c *client, id, text string, ans *protocol.Answer) {
	s := r.h.s
	r.mu.Lock()
	if r.conv.State != store.StateAgent {
		r.mu.Unlock()
		c.consoleError(CodeConversationClosed, r.id, id)
		return
	}
	stored, err := r.appendLocked(ctx, store.Message{ClientID: "agent:" + id, Role: store.RoleAgent, Kind: store.KindMessage,
		Body: mustJSON(messageBody{Text: text, Lang: r.conv.Lang, Agent: c.agent.Name, Answer: ans})})
	r.mu.Unlock()
	if errors.Is(err, store.ErrDuplicate) {
		c.sendJSON(protocol.ConsoleFrame{Type: "ack", ConversationID: r.id, ID: id, Seq: stored[0].Seq})
		return
	}
	if err != nil {
		s.log.Error("store agent message", "conversation", r.id, "err", err)
		c.consoleError(CodeInternal, r.id, id)
		return
	}
	c.sendJSON(protocol.ConsoleFrame{Type: "ack", ConversationID: r.id, ID: id, Seq: stored[0].Seq})
	r.h.desk.responded(r.id)
}

// sendFAQ sends a vetted FAQ answer in the visitor's language (and script).
func (r *room) sendFAQ(ctx context.Context, c *client, f protocol.AgentFrame) {
	en := r.h.s.entry(f.FAQID)
	if en == nil || en.Kind != kb.KindFAQ {
		c.consoleError(CodeNotFound, r.id, f.ID)
		return
	}
	text := r.say(en.Text[r.conv.Lang].A)
	ans := &protocol.Answer{FAQID: en.ID, Kind: en.Kind, Confidence: 1, AsOf: en.AsOf, Script: r.conv.Script}
	if en.Source != nil {
		ans.Source = &protocol.Source{Speaker: en.Source.Speaker, Outlet: en.Source.Outlet, Document: en.Source.Document}
	}
	r.agentMessage(ctx, c, f.ID, text, ans)
}

// suggest sends the FAQ entries nearest the visitor's last question: in the agent's language
// to read, in the visitor's to send.
func (r *room) suggest(ctx context.Context, c *client, agentLang string) {
	s := r.h.s
	if !slices.Contains(c.agent.Langs, agentLang) {
		agentLang = c.agent.Langs[0]
	}
	msgs, err := s.store.MessagesAfter(ctx, r.id, 0, 2000)
	if err != nil {
		c.consoleError(CodeInternal, r.id, "")
		return
	}
	question := ""
	for i := len(msgs) - 1; i >= 0 && question == ""; i-- {
		if msgs[i].Role == store.RoleVisitor {
			question = wireMessage(msgs[i]).Text
		}
	}
	out := []protocol.FAQOption{}
	if ne, ok := s.engine.(interface {
		Nearest(lang, text string, n int) []kb.Scored
	}); ok && question != "" {
		for _, sc := range ne.Nearest(r.conv.Lang, question, 5) {
			out = append(out, protocol.FAQOption{FAQID: sc.Entry.ID, Confidence: sc.Confidence,
				Question: sc.Entry.Text[agentLang].Q, Answer: sc.Entry.Text[agentLang].A,
				VisitorText: r.say(sc.Entry.Text[r.conv.Lang].A), AsOf: sc.Entry.AsOf})
		}
	}
	var canned []protocol.CannedReply
	for _, id := range cannedIDs {
		canned = append(canned, protocol.CannedReply{ID: id, Text: s.cat.T(agentLang, id, nil), VisitorText: r.say(s.cat.T(r.conv.Lang, id, nil))})
	}
	c.sendJSON(protocol.ConsoleFrame{Type: "suggestions", ConversationID: r.id, Suggestions: out, Canned: canned})
}

// lastVisitorText returns the text of the visitor's last message, or "".
func (r *room) lastVisitorText(ctx context.Context) string {
	msgs, err := r.h.s.store.MessagesAfter(ctx, r.id, 0, 2000)
	if err != nil {
		return ""
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == store.RoleVisitor {
			return wireMessage(msgs[i]).Text
		}
	}
	return ""
}

func (r *room) note(ctx context.Context, c *client, text string) {
	s := r.h.s
	n := store.Note{ConversationID: r.id, AgentID: c.agent.ID, Text: text, CreatedAt: s.now()}
	if err := s.store.AddNote(ctx, n); err != nil {
		c.consoleError(CodeInternal, r.id, "")
		return
	}
	f := protocol.ConsoleFrame{Type: "note", ConversationID: r.id, Notes: []protocol.Note{{Agent: c.agent.Name, Text: text,
		Time: n.CreatedAt.UTC().Format(time.RFC3339)}}}
	r.mu.Lock()
	for o := range r.clients {
		if o.agent != nil {
			o.sendJSON(f)
		}
	}
	r.mu.Unlock()
}

// transfer moves the conversation to another agent, or back to the queue in a language. As
// with claim, the consoles and the waiting visitors hear of it once the room's lock is
// released: back in the queue, this conversation's own room is one updatePositions locks.
func (r *room) transfer(ctx context.Context, c *client, toAgent, toLang string) {
	if r.transferLocked(ctx, c, toAgent, toLang) {
		r.h.desk.broadcast()
		r.h.desk.updatePositions()
	}
}

func (r *room) transferLocked(ctx context.Context, c *client, toAgent, toLang string) bool {
	s, d := r.h.s, r.h.desk
	r.mu.Lock()
	defer r.mu.Unlock()
	if toAgent == "" && !kb.ValidLang(toLang) {
		c.consoleError(CodeUnsupportedLang, r.id, "")
		return false
	}
	d.mu.Lock()
	as, err := d.q.Transfer(r.id, toAgent, toLang)
	var name string
	if a, ok := d.q.Agent(toAgent); ok {
		name = a.Name
	}
	d.mu.Unlock()
	if err != nil {
		c.consoleError(CodeForbidden, r.id, "")
		return false
	}
	r.detachAgentsLocked()
	if toAgent != "" {
		if err := s.store.Assign(ctx, store.Assignment{ConversationID: r.id, AgentID: toAgent, Lang: as.Lang, Channel: as.Channel, Since: as.Since}); err != nil {
			s.log.Error("transfer", "conversation", r.id, "err", err)
		}
		if _, err := r.appendLocked(ctx, store.Message{Role: store.RoleSystem, Kind: store.KindEvent, Body: mustJSON(messageBody{
			Event: protocol.EventAgentJoined, Lang: r.conv.Lang, Agent: name,
			Text: r.say(s.cat.T(r.conv.Lang, "AgentJoined", map[string]any{"Name": name})),
		})}); err != nil {
			s.log.Error("store agent joined", "conversation", r.id, "err", err)
		}
	} else {
		d.mu.Lock()
		e, _ := entryOf(d.q, r.id)
		d.mu.Unlock()
		if e.Question == "" {
			// The queue let go of the question when the conversation was claimed: the
			// visitor's last message stands for it, so that the next agent sees one.
			e.Question = r.lastVisitorText(ctx)
			d.mu.Lock()
			d.q.Remove(r.id)
			d.q.Enqueue(e)
			d.mu.Unlock()
		}
		if err := s.store.Enqueue(ctx, store.QueueEntry{ConversationID: r.id, Lang: e.Lang, Channel: e.Channel,
			Reason: "transfer", Question: e.Question, Since: e.Since, Front: true}); err != nil {
			s.log.Error("transfer", "conversation", r.id, "err", err)
		}
		r.conv.State = store.StateQueued
		d.mu.Lock()
		available := d.q.AvailableFor(e.Lang)
		d.mu.Unlock()
		r.announcePlaceLocked(ctx, available)
	}
	return true
}

// release ends the agent's part: back to the bot (handback) or closed with a resolution.
func (r *room) release(ctx context.Context, c *client, state, resolution string) {
	s, d := r.h.s, r.h.desk
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := s.store.Unqueue(ctx, r.id, state, resolution, s.now()); err != nil {
		c.consoleError(CodeInternal, r.id, "")
		return
	}
	d.mu.Lock()
	d.q.Release(r.id)
	d.q.Remove(r.id)
	d.released(r.id)
	d.mu.Unlock()
	r.conv.State = state
	event, id := protocol.EventAgentLeft, "AgentLeft"
	if state == store.StateClosed {
		event, id = protocol.EventClosed, "ConversationClosed"
	}
	if _, err := r.appendLocked(ctx, store.Message{Role: store.RoleSystem, Kind: store.KindEvent, Body: mustJSON(messageBody{
		Event: event, Lang: r.conv.Lang, Agent: c.agent.Name, Text: r.say(s.cat.T(r.conv.Lang, id, nil)),
	})}); err != nil {
		s.log.Error("store release event", "conversation", r.id, "err", err)
	}
	r.detachAgentsLocked()
	d.broadcast()
}
