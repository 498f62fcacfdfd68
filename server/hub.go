package server

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hotline12367/hotline/kb"
	"github.com/hotline12367/hotline/protocol"
	"github.com/hotline12367/hotline/store"
)

// hub owns the live state of conversations: which connections watch which conversation
// (rooms) and the work waiting on each. Each room runs its jobs one at a time, in arrival
// order, so a conversation's messages are stored and broadcast in order. A visitor's frame
// runs on the reader goroutine that read it when its room is idle: that goroutine lives only
// until the connection is parked again (poll_linux.go), so the stack the search grows is given
// back at once. Other work (the server's own, agents', frames arriving while the room is busy)
// runs on a pool of worker goroutines, which exit when shutdown closes the job queue.
type hub struct {
	s *Server

	mu       sync.Mutex
	rooms    map[string]*room
	clients  map[*client]struct{}
	closed   bool
	nextSlot int                             // the ping slot of the next connection
	slots    [pingSlots]map[*client]struct{} // the connections of each ping slot
	// roomsEnded counts rooms dropped (their last user gone), guarded by mu: a conversation
	// read from the store is as fresh as its room would be while none has ended since.
	roomsEnded uint64
	// afterTokenRead, set by tests, runs in a resuming hello between its read of the
	// conversation and taking its room.
	afterTokenRead func()

	desk *desk

	work    chan func()
	workers sync.WaitGroup
	conns   sync.WaitGroup
	stopBg  chan struct{}
	bg      sync.WaitGroup
}

// room is one conversation with the connections watching it. mu serializes everything that
// stores or broadcasts for the conversation.
type room struct {
	h  *hub
	id string

	mu     sync.Mutex
	conv   store.Conversation
	loaded bool // conv has been read; guarded by mu
	// lastQuestion is the visitor's last message, for the queue; notHelpful counts "not
	// helpful" verdicts; delivery says why the visitor's channel refused a message. All
	// guarded by mu.
	lastQuestion string
	notHelpful   int
	delivery     string
	clients      map[*client]struct{}

	qmu     sync.Mutex // guards pending and running
	pending []job
	running bool
	refs    int // guarded by h.mu: clients + scheduled work
}

type job struct {
	client *client // nil for work of the server's own (answering after a restart, closing)
	frame  protocol.ClientFrame
	run    func(r *room) // set for server work
	at     time.Time     // when the frame arrived
}

func newHub(s *Server) *hub {
	h := &hub{
		s: s, rooms: map[string]*room{}, clients: map[*client]struct{}{},
		work: make(chan func(), 4096), stopBg: make(chan struct{}),
	}
	h.desk = newDesk(h)
	return h
}

func (h *hub) start(ctx context.Context) {
	for range h.s.cfg.Workers {
		h.workers.Add(1)
		go func() {
			defer h.workers.Done()
			for fn := range h.work {
				fn()
			}
		}()
	}
	if err := h.desk.restore(ctx); err != nil {
		h.s.log.Error("restore the queue", "err", err)
	}
	h.bg.Add(2)
	go h.janitor(ctx)
	go h.pinger(ctx)
	// Questions stored but not answered when the server last stopped are answered now.
	ids, err := h.s.store.Unanswered(ctx, 10000)
	if err != nil {
		h.s.log.Error("find unanswered questions", "err", err)
	}
	for _, id := range ids {
		r := h.acquireRoom(id)
		if r == nil {
			break
		}
		r.submit(job{run: func(r *room) {
			if err := r.load(ctx); err != nil {
				h.s.log.Error("load conversation", "conversation", id, "err", err)
				return
			}
			msgs, err := h.s.store.MessagesAfter(ctx, id, r.conv.LastSeq-1, 1)
			if err != nil || len(msgs) == 0 || msgs[0].Role != store.RoleVisitor {
				return
			}
			var body messageBody
			if json.Unmarshal(msgs[0].Body, &body) == nil {
				r.reply(ctx, body.Text)
			}
		}})
		h.releaseRoom(r)
	}
}

// janitor closes idle conversations once a minute and keeps the queue (dropped agents,
// departed visitors) every five seconds, until shutdown.
func (h *hub) janitor(ctx context.Context) {
	defer h.bg.Done()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-h.stopBg:
			return
		case <-t.C:
			h.desk.maintain(ctx)
			if n%12 == 0 {
				h.closeIdle(ctx)
			}
		}
	}
}

// pinger pings every connection once a ping period, so that dead peers are noticed (their
// pong never comes: the reader's deadline passes, or pingAll finds a parked connection
// silent) and proxies keep idle connections open.
func (h *hub) pinger(ctx context.Context) {
	defer h.bg.Done()
	t := time.NewTicker(pingPeriod / time.Duration(pingSlots))
	defer t.Stop()
	var clients []*client
	for slot := 0; ; slot = (slot + 1) % pingSlots {
		select {
		case <-ctx.Done():
			return
		case <-h.stopBg:
			return
		case <-t.C:
		}
		clients = h.pingAll(clients[:0], slot)
	}
}

// pingSlots spreads the pings over the ping period: each connection is pinged in its slot, one
// slot every 100 ms, so that twenty thousand pings (and their pongs) never come at once, and
// each round is a few dozen.
const pingSlots = int(pingPeriod / (100 * time.Millisecond))

// pingAll pings the connections of a slot (all of them when slot is negative), and closes the
// parked ones that have been silent (not even a pong) for a whole pong wait: with no reader,
// they have no read deadline to end them. The slice is scratch space, returned for the next
// round.
func (h *hub) pingAll(clients []*client, slot int) []*client {
	h.mu.Lock()
	if slot < 0 {
		for c := range h.clients {
			clients = append(clients, c)
		}
	} else {
		for c := range h.slots[slot] {
			clients = append(clients, c)
		}
	}
	h.mu.Unlock()
	dead := time.Now().Add(-pongWait).UnixNano()
	for _, c := range clients {
		if c.parked.Load() && c.lastRead.Load() < dead {
			c.closeConn()
			continue
		}
		c.ping()
	}
	clear(clients) // no closed connection stays reachable from here
	return clients
}

// closeIdle closes the conversations with nothing new for the configured idle time.
func (h *hub) closeIdle(ctx context.Context) int {
	ids, err := h.s.store.IdleConversations(ctx, h.s.now().Add(-h.s.cfg.IdleTimeout), 1000)
	if err != nil {
		h.s.log.Error("find idle conversations", "err", err)
		return 0
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		r := h.acquireRoom(id)
		if r == nil {
			break
		}
		wg.Add(1)
		r.submit(job{run: func(r *room) {
			defer wg.Done()
			if err := r.load(ctx); err != nil || r.conv.State == store.StateClosed {
				return
			}
			r.close(ctx)
		}})
		h.releaseRoom(r)
	}
	wg.Wait()
	return len(ids)
}

// count is how many connections are open.
func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// register adds a connection; it reports false once shutdown has begun.
func (h *hub) register(c *client) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.clients[c] = struct{}{}
	c.pingSlot = h.nextSlot % pingSlots
	h.nextSlot++
	if h.slots[c.pingSlot] == nil {
		h.slots[c.pingSlot] = map[*client]struct{}{}
	}
	h.slots[c.pingSlot][c] = struct{}{}
	h.conns.Add(1)
	return true
}

func (h *hub) unregister(c *client) {
	if r := c.currentRoom(); r != nil {
		r.mu.Lock()
		delete(r.clients, c)
		visitors := 0
		for o := range r.clients {
			if o.agent == nil {
				visitors++
			}
		}
		queued := r.conv.State == store.StateQueued
		r.mu.Unlock()
		if visitors == 0 && queued {
			h.desk.visitorLeft(r.id)
		}
		h.releaseRoom(r)
	}
	h.mu.Lock()
	if _, ok := h.clients[c]; ok {
		delete(h.clients, c)
		delete(h.slots[c.pingSlot], c)
		h.conns.Done()
	}
	h.mu.Unlock()
}

// acquireRoom returns the room of a conversation, creating it, and counts a reference to it;
// releaseRoom gives the reference back. It returns nil once shutdown has begun.
func (h *hub) acquireRoom(id string) *room {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	r := h.rooms[id]
	if r == nil {
		r = &room{h: h, id: id, clients: map[*client]struct{}{}}
		h.rooms[id] = r
	}
	r.refs++
	return r
}

func (h *hub) releaseRoom(r *room) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r.refs--
	if r.refs == 0 {
		delete(h.rooms, r.id)
		h.roomsEnded++
	}
}

// roomGen is roomsEnded now.
func (h *hub) roomGen() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.roomsEnded
}

// schedule runs fn on a worker; it reports false once shutdown has begun.
func (h *hub) schedule(fn func()) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.workers.Add(0) // documents that workers outlive every scheduled fn
	select {
	case h.work <- fn:
	default:
		// The queue is full: run it beside the pool rather than block a reader.
		h.workers.Add(1)
		go func() { defer h.workers.Done(); fn() }()
	}
	return true
}

// submit queues a job for the room; the room's jobs run one at a time, in order, on a worker.
func (r *room) submit(j job) { r.enqueue(j, false) }

// submitHere is submit for a connection's reader: when the room is idle its jobs run on the
// calling goroutine, sparing a hand-over to a worker and back. A visitor's reader is a
// short-lived goroutine of its own (the connection is parked between frames), so its stack
// grows for the engine only while it answers.
func (r *room) submitHere(j job) { r.enqueue(j, true) }

func (r *room) enqueue(j job, here bool) {
	h := r.h
	h.mu.Lock()
	if h.closed && here {
		h.mu.Unlock()
		return
	}
	r.refs++
	h.mu.Unlock()
	r.qmu.Lock()
	r.pending = append(r.pending, j)
	start := !r.running
	r.running = true
	r.qmu.Unlock()
	if start && here {
		r.drain() // shutdown waits for the connection's reader, hence for this too
		return
	}
	if start && !h.schedule(r.drain) {
		r.qmu.Lock()
		n := len(r.pending)
		r.pending, r.running = nil, false
		r.qmu.Unlock()
		for range n {
			h.releaseRoom(r)
		}
	}
}

func (r *room) drain() {
	for {
		r.qmu.Lock()
		if len(r.pending) == 0 {
			r.running = false
			r.qmu.Unlock()
			return
		}
		j := r.pending[0]
		r.pending = r.pending[1:]
		r.qmu.Unlock()
		r.run(j)
		r.h.releaseRoom(r)
	}
}

func (r *room) run(j job) {
	ctx := context.Background() // a stored message is finished even if its sender left
	defer func() {
		// A bug in one job must not take down every other conversation.
		if v := recover(); v != nil {
			r.h.s.log.Error("job panicked", "conversation", r.id, "panic", v, "stack", string(debug.Stack()))
			if j.client != nil {
				j.client.sendError(CodeInternal, j.frame.ID)
			}
		}
	}()
	if j.run != nil {
		j.run(r)
		return
	}
	c, f := j.client, j.frame
	switch f.Type {
	case protocol.TypeMessage:
		r.visitorMessage(ctx, c, f)
		r.h.s.metrics.replySeconds.Observe(time.Since(j.at).Seconds())
	case protocol.TypeLang:
		r.chooseLang(ctx, c, f.Lang)
	case protocol.TypeFeedback:
		r.feedback(ctx, c, f.Seq, *f.Helpful)
	case protocol.TypeSync:
		r.sync(ctx, c, f.Seq)
	case protocol.TypeHandoff:
		r.mu.Lock()
		if err := r.ensureLoaded(ctx); err == nil && r.conv.State == store.StateBot {
			r.enqueueLocked(ctx, kb.ReasonRequested, r.lastQuestion)
		}
		r.mu.Unlock()
	case protocol.TypeCancel:
		r.leaveQueue(ctx, true)
	case protocol.TypeLeaveMessage:
		r.leaveMessage(ctx, c, f)
	case protocol.TypeTyping:
		// Typing indicators go to the agent watching the conversation (the agent console).
		r.mu.Lock()
		for other := range r.clients {
			if other != c && other.agent != nil {
				on := f.On
				other.sendFrame(protocol.ServerFrame{Type: protocol.TypeTyping, ConversationID: r.id, From: protocol.FromVisitor, On: &on})
			}
		}
		r.mu.Unlock()
	}
}

// shutdown stops accepting work, tells every connection to reconnect, waits for the
// connections and the workers, and returns early with ctx's error if ctx ends first.
func (h *hub) shutdown(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	clients := make([]*client, 0, len(h.clients))
	for c := range h.clients {
		clients = append(clients, c)
	}
	h.mu.Unlock()
	close(h.stopBg)
	for _, c := range clients {
		c.sendFrame(protocol.ServerFrame{Type: protocol.TypeError, Error: &protocol.ErrorBody{
			Code: "restarting", Message: h.s.cat.T(c.currentLang().Lang, "ServerRestarting", nil)}})
		c.stop(closeServiceRestart, "restarting")
	}
	done := make(chan struct{})
	go func() {
		h.conns.Wait()
		close(h.work) // no one schedules once closed is set
		h.workers.Wait()
		h.bg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// hello starts or resumes the connection's conversation.
func (h *hub) hello(c *client, f protocol.ClientFrame) {
	ok := h.schedule(func() {
		defer close(c.welcomed)
		ctx := context.Background()
		if err := h.doHello(ctx, c, f); err != nil {
			h.s.log.Error("hello", "err", err)
			c.sendError(CodeInternal, "")
			c.stop(1011, CodeInternal)
		}
	})
	if !ok {
		close(c.welcomed) // shutting down: the connection is being told to reconnect
	}
}

func hashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

func (h *hub) doHello(ctx context.Context, c *client, f protocol.ClientFrame) error {
	s := h.s
	now := s.now()
	pref := c.hint
	chosen := false
	if f.Lang != "" && f.Lang != "auto" {
		p, ok := kb.ParseLang(f.Lang)
		if !ok {
			c.sendError(CodeUnsupportedLang, "")
		} else {
			pref, chosen = p, true
		}
	}
	var conv store.Conversation
	var err error
	token := ""
	resumed := false
	gen := h.roomGen() // before reading: see below, where the room takes conv
	if f.ResumeToken != "" {
		conv, err = s.store.ConversationByToken(ctx, hashToken(f.ResumeToken))
		if h.afterTokenRead != nil {
			h.afterTokenRead()
		}
		switch {
		case err == nil && (conv.Channel != "" && conv.Channel != "web"):
			// A channel's conversation (WeChat) belongs to its channel user: never resumable
			// over the WebSocket, whatever was sent as a token.
			c.setLang(pref)
			c.sendError(CodeResumeInvalid, "")
		case err == nil && now.Before(conv.TokenExpiresAt):
			resumed, token = true, f.ResumeToken
		case err == nil || errors.Is(err, store.ErrNotFound):
			c.setLang(pref)
			c.sendError(CodeResumeInvalid, "")
		default:
			return err
		}
	}
	lastSeq := f.LastSeq
	if !resumed {
		token, lastSeq = newToken(), 0
		conv = store.Conversation{
			ID: newID(), TokenHash: hashToken(token), Lang: pref.Lang, Script: pref.Script,
			LangChosen: chosen, Channel: "web", State: store.StateBot,
			CreatedAt: now, UpdatedAt: now, TokenExpiresAt: now.Add(s.cfg.TokenTTL),
		}
		// The conversation and its greeting in one write.
		if err := s.store.CreateConversation(ctx, conv, store.Message{Role: store.RoleBot, Kind: store.KindMessage,
			Body: mustJSON(messageBody{Text: s.cat.T(pref.Lang, "Greeting", nil), Lang: pref.Lang})}); err != nil {
			return err
		}
		conv.LastSeq = 1 // the greeting
	}
	r := h.acquireRoom(conv.ID)
	if r == nil {
		return nil // shutting down: the client is being told to reconnect
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// Every change to a conversation goes through its room. A room already loaded has the
	// truth; a new one takes conv, unless a room ended since conv was read (it may have
	// changed the conversation after the read): then it reads it again.
	switch {
	case r.loaded:
	case h.roomGen() == gen:
		r.conv = conv
	default:
		if err := r.loadLocked(ctx); err != nil {
			h.releaseRoom(r)
			return err
		}
	}
	r.loaded = true
	if resumed {
		if chosen && (pref.Lang != r.conv.Lang || r.conv.Script != pref.Script || !r.conv.LangChosen) {
			if err := s.store.SetLang(ctx, conv.ID, pref.Lang, pref.Script, true); err != nil {
				h.releaseRoom(r)
				return err
			}
			r.conv.Lang, r.conv.Script, r.conv.LangChosen = pref.Lang, pref.Script, true
		}
		// The token's life starts again with each resume; written only once half of it is
		// gone, so that a crowd reconnecting after a restart costs no writes.
		if r.conv.TokenExpiresAt.Sub(now) < s.cfg.TokenTTL/2 {
			at := now.Add(s.cfg.TokenTTL)
			if err := s.store.SetTokenExpiry(ctx, conv.ID, at); err != nil {
				h.releaseRoom(r)
				return err
			}
			r.conv.TokenExpiresAt = at
		}
	}
	var msgs []store.Message
	if lastSeq < r.conv.LastSeq {
		// Most resumes (a crowd after a restart) have seen everything: no read for them.
		if msgs, err = s.store.MessagesAfter(ctx, conv.ID, lastSeq, replayLimit+1); err != nil {
			h.releaseRoom(r)
			return err
		}
	}
	more := len(msgs) > replayLimit
	if more {
		msgs = msgs[:replayLimit]
	}
	lang := kb.Pref{Lang: r.conv.Lang, Script: r.conv.Script}
	c.setLang(lang)
	var pos, wait int
	if r.conv.State == store.StateQueued {
		h.desk.visitorBack(conv.ID)
		pos, wait, _ = h.desk.position(conv.ID)
	}
	r.clients[c] = struct{}{}
	c.mu.Lock()
	c.room = r
	c.mu.Unlock()
	c.sendFrame(protocol.ServerFrame{
		Type: protocol.TypeWelcome, ConversationID: conv.ID, ResumeToken: token, Resumed: resumed,
		State: r.conv.State, Lang: lang.Lang, Script: lang.Script, LangChosen: r.conv.LangChosen,
		Messages: toWire(msgs), More: more, Seq: r.conv.LastSeq, Position: pos, WaitMin: wait,
	})
	return nil
}

// replayLimit is the most messages a welcome or sync frame carries.
const replayLimit = 200

// messageBody is what the store keeps of a message; the wire form adds seq, sender and time.
type messageBody struct {
	Text     string           `json:"text,omitempty"`
	Lang     string           `json:"lang,omitempty"`
	Answer   *protocol.Answer `json:"answer,omitempty"`
	Event    string           `json:"event,omitempty"`
	Position int              `json:"position,omitempty"`
	WaitMin  int              `json:"wait_minutes,omitempty"`
	Agent    string           `json:"agent,omitempty"`
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own types are marshalled
	}
	return b
}

func toWire(ms []store.Message) []protocol.Message {
	out := make([]protocol.Message, 0, len(ms))
	for _, m := range ms {
		out = append(out, wireMessage(m))
	}
	return out
}

func wireMessage(m store.Message) protocol.Message {
	var b messageBody
	_ = json.Unmarshal(m.Body, &b)
	return protocol.Message{
		Seq: m.Seq, Kind: m.Kind, From: m.Role, ClientID: m.ClientID, Text: b.Text, Lang: b.Lang,
		Time: m.CreatedAt.UTC().Format(time.RFC3339Nano), Answer: b.Answer, Event: b.Event,
		Position: b.Position, WaitMin: b.WaitMin, Agent: b.Agent,
	}
}
