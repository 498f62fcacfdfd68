package server

import (
	"context"
	"errors"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/hotline12367/hotline/kb"
	"github.com/hotline12367/hotline/protocol"
	"github.com/hotline12367/hotline/store"
)

// ChannelSender delivers to visitors of a channel that has no WebSocket (WeChat): the bot's
// answers, the agents' replies, the queue's notices.
type ChannelSender interface {
	SendText(ctx context.Context, userID, text string) error
	Typing(ctx context.Context, userID string, on bool) error
	// Refusal says why err means the message must not be sent again ("outside_window",
	// "quota_exceeded"), or "" when a retry may succeed.
	Refusal(err error) string
}

// Kinds of inbound channel messages.
const (
	ChannelText  = "text"
	ChannelOther = "other" // an image, a card: something the bot cannot read
	ChannelEnter = "enter" // the user opened the conversation
)

// channel delivers one channel's outbound messages: a few workers, each user's messages always
// on the same worker so they arrive in order, a bounded number of tries per message.
type channel struct {
	name   string
	s      *Server
	sender ChannelSender
	queues []chan delivery
	wg     sync.WaitGroup
}

type delivery struct {
	conversationID, userID, text string
}

// deliveryTries bounds the attempts of one message; backoff doubles between them.
const (
	deliveryTries   = 3
	deliveryBackoff = time.Second
	channelWorkers  = 4
)

// AddChannel connects a channel (e.g. "wechat") whose visitors are reached through sender.
// Call it before Start.
func (s *Server) AddChannel(name string, sender ChannelSender) {
	ch := &channel{name: name, s: s, sender: sender}
	for range channelWorkers {
		q := make(chan delivery, 1024)
		ch.queues = append(ch.queues, q)
		ch.wg.Add(1)
		go ch.work(q)
	}
	s.channels[name] = ch
}

func (ch *channel) enqueue(d delivery) {
	h := fnv.New32a()
	h.Write([]byte(d.userID))
	select {
	case ch.queues[h.Sum32()%uint32(len(ch.queues))] <- d:
	default:
		ch.s.log.Error("channel outbox full", "channel", ch.name, "conversation", d.conversationID)
		ch.s.hub.withRoom(d.conversationID, func(r *room) { r.deliveryFailed(context.Background(), "unreachable") })
	}
}

func (ch *channel) work(q chan delivery) {
	defer ch.wg.Done()
	for d := range q {
		ch.send(d)
	}
}

// send delivers one message: retried with backoff when the failure may pass, recorded on the
// conversation (and shown to the agent) when it cannot be sent.
func (ch *channel) send(d delivery) {
	backoff := deliveryBackoff
	var err error
	for try := 1; try <= deliveryTries; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = ch.sender.SendText(ctx, d.userID, d.text)
		cancel()
		if err == nil {
			return
		}
		if reason := ch.sender.Refusal(err); reason != "" {
			ch.s.hub.withRoom(d.conversationID, func(r *room) { r.deliveryFailed(context.Background(), reason) })
			return
		}
		if try < deliveryTries {
			time.Sleep(backoff)
			backoff *= 2
		}
	}
	ch.s.log.Warn("channel delivery failed", "channel", ch.name, "conversation", d.conversationID, "err", err)
	ch.s.hub.withRoom(d.conversationID, func(r *room) { r.deliveryFailed(context.Background(), "unreachable") })
}

func (ch *channel) close() {
	for _, q := range ch.queues {
		close(q)
	}
	ch.wg.Wait()
}

// ChannelMessage takes a message from a channel user (a WeChat push): the user's conversation
// is found or started, the message stored once per msgID, and answered like any other; the
// replies go back through the channel's sender.
func (s *Server) ChannelMessage(ctx context.Context, channelName, userID, msgID, kind, text string) error {
	if s.channels[channelName] == nil {
		return errors.New("server: unknown channel " + channelName)
	}
	id, err := s.channelConversation(ctx, channelName, userID)
	if err != nil {
		return err
	}
	done := make(chan struct{})
	s.hub.withRoom(id, func(r *room) {
		defer close(done)
		r.channelMessage(ctx, msgID, kind, strings.TrimSpace(text))
	})
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

// channelConversation returns the conversation of a channel user, starting one the first time.
// The user's conversation is found by a token derived from the channel and the user, which
// never leaves the server.
func (s *Server) channelConversation(ctx context.Context, channelName, userID string) (string, error) {
	// Not a resume token: a key no visitor can send (the NUL byte), and doHello refuses channel
	// conversations anyway.
	hash := hashToken("channel\x00" + channelName + "\x00" + userID)
	conv, err := s.store.ConversationByToken(ctx, hash)
	if err == nil {
		return conv.ID, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	now := s.now()
	conv = store.Conversation{ID: newID(), TokenHash: hash, Lang: "zh", Channel: channelName, ChannelUser: userID,
		State: store.StateBot, CreatedAt: now, UpdatedAt: now, TokenExpiresAt: now.Add(100 * 365 * 24 * time.Hour)}
	if err := s.store.CreateConversation(ctx, conv); err != nil {
		// Two pushes of a new user at once: the other one created it.
		if c, err2 := s.store.ConversationByToken(ctx, hash); err2 == nil {
			return c.ID, nil
		}
		return "", err
	}
	return conv.ID, nil
}

func (r *room) channelMessage(ctx context.Context, msgID, kind, text string) {
	s := r.h.s
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conv.State == store.StateClosed {
		// A channel user has one conversation: a new message opens it again.
		if err := s.store.SetState(ctx, r.id, store.StateBot, s.now()); err != nil {
			s.log.Error("reopen conversation", "conversation", r.id, "err", err)
			return
		}
		r.conv.State = store.StateBot
	}
	switch kind {
	case ChannelEnter:
		if _, err := r.appendLocked(ctx, store.Message{Role: store.RoleBot, Kind: store.KindMessage,
			Body: mustJSON(messageBody{Text: r.say(s.cat.T(r.conv.Lang, "Greeting", nil)), Lang: r.conv.Lang})}); err != nil {
			s.log.Error("store greeting", "conversation", r.id, "err", err)
		}
		return
	case ChannelOther:
		text = "[" + s.cat.T(r.conv.Lang, "ChannelAttachment", nil) + "]"
	}
	if text == "" {
		return
	}
	msgs := []store.Message{{ClientID: r.conv.Channel + ":" + msgID, Role: store.RoleVisitor, Kind: store.KindMessage,
		Body: mustJSON(messageBody{Text: text})}}
	var ans *kb.Answer
	var lang *kb.Pref
	switch {
	case kind == ChannelOther:
		msgs = append(msgs, store.Message{Role: store.RoleBot, Kind: store.KindMessage,
			Body: mustJSON(messageBody{Text: r.say(s.cat.T(r.conv.Lang, "ChannelTextOnly", nil)), Lang: r.conv.Lang})})
	case r.conv.State == store.StateBot:
		r.channelTyping(true) // the answer that follows ends it
		if m, a, ok := r.botAnswer(text); ok {
			msgs, ans, lang = append(msgs, m), &a, r.movedLang(a)
		}
	}
	if _, err := r.appendAs(ctx, nil, lang, msgs); err != nil {
		if !errors.Is(err, store.ErrDuplicate) {
			s.log.Error("store channel message", "conversation", r.id, "err", err)
		}
		return
	}
	r.lastQuestion = text
	if ans != nil && ans.Handoff {
		r.enqueueLocked(ctx, ans.Reason, text)
	}
}

// deliverLocked sends what the conversation's visitor must read to their channel, when they
// are on one. r.mu must be held.
func (r *room) deliverLocked(m store.Message) {
	if r.conv.Channel == "" || r.conv.Channel == "web" || m.Role == store.RoleVisitor {
		return
	}
	ch := r.h.s.channels[r.conv.Channel]
	if ch == nil {
		return
	}
	w := wireMessage(m)
	if w.Text == "" || w.Event == protocol.EventDeliveryFail || w.Event == protocol.EventLanguage {
		return
	}
	ch.enqueue(delivery{conversationID: r.id, userID: r.conv.ChannelUser, text: w.Text})
}

// deliveryFailed records on the conversation that its channel refused a message, so that the
// agent sees why the visitor may not get replies. It is stored, never sent to the channel.
func (r *room) deliveryFailed(ctx context.Context, reason string) {
	s := r.h.s
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delivery = reason
	if _, err := r.appendLocked(ctx, store.Message{Role: store.RoleSystem, Kind: store.KindEvent, Body: mustJSON(messageBody{
		Event: protocol.EventDeliveryFail, Lang: r.conv.Lang, Text: reason,
	})}); err != nil {
		s.log.Error("store delivery failure", "conversation", r.id, "err", err)
	}
	r.h.desk.broadcast()
}

// channelTyping shows the channel user that an agent is typing.
func (r *room) channelTyping(on bool) {
	ch := r.h.s.channels[r.conv.Channel]
	if ch == nil || r.conv.ChannelUser == "" {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = ch.sender.Typing(ctx, r.conv.ChannelUser, on)
	}()
}
