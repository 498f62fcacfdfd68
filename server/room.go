package server

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/hotline12367/hotline/kb"
	"github.com/hotline12367/hotline/protocol"
	"github.com/hotline12367/hotline/store"
)

// load reads the conversation's current state from the store.
func (r *room) load(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loadLocked(ctx)
}

func (r *room) loadLocked(ctx context.Context) error {
	conv, err := r.h.s.store.Conversation(ctx, r.id)
	if err != nil {
		return err
	}
	r.conv = conv
	return nil
}

// appendLocked stores msgs in one transaction and sends them to every connection of the
// room. r.mu must be held, so that messages reach every connection in seq order.
func (r *room) appendLocked(ctx context.Context, msgs ...store.Message) ([]store.Message, error) {
	return r.appendFrom(ctx, nil, msgs...)
}

// appendFrom is appendLocked for messages sent by the connection from: it gets an ack with
// the seq of its own message (the first) instead of a copy of it; the rest it gets as everyone.
func (r *room) appendFrom(ctx context.Context, from *client, msgs ...store.Message) ([]store.Message, error) {
	return r.appendAs(ctx, from, nil, msgs)
}

// appendAs is appendFrom that, when lang is set, also moves the conversation to that language
// (detected, not chosen) in the same transaction.
func (r *room) appendAs(ctx context.Context, from *client, lang *kb.Pref, msgs []store.Message) ([]store.Message, error) {
	now := r.h.s.now()
	for i := range msgs {
		msgs[i].ConversationID = r.id
		msgs[i].CreatedAt = now
	}
	var stored []store.Message
	var err error
	if lang != nil {
		stored, err = r.h.s.store.AppendAllLang(ctx, msgs, lang.Lang, lang.Script)
	} else {
		stored, err = r.h.s.store.AppendAll(ctx, msgs)
	}
	if err != nil {
		return stored, err
	}
	if lang != nil {
		r.conv.Lang, r.conv.Script = lang.Lang, lang.Script
		for c := range r.clients {
			c.setLang(*lang)
		}
	}
	for i, m := range stored {
		r.conv.LastSeq = m.Seq
		r.deliverLocked(m)
		if i == 0 && from != nil {
			from.enqueue(ackFrame(m.ClientID, m.Seq))
		}
		b := messageFrame(r.id, m)
		for c := range r.clients {
			if i == 0 && c == from {
				continue
			}
			c.enqueue(b)
		}
	}
	return stored, nil
}

// ensureLoaded reads the conversation from the store the first time the room needs it; after
// that the room's copy is the truth, since every change goes through the room.
func (r *room) ensureLoaded(ctx context.Context) error {
	if r.loaded {
		return nil
	}
	if err := r.loadLocked(ctx); err != nil {
		return err
	}
	r.loaded = true
	return nil
}

// visitorMessage stores a visitor's message and, while the bot holds the conversation, the
// bot's answer with it, in one transaction; then acknowledges it.
func (r *room) visitorMessage(ctx context.Context, c *client, f protocol.ClientFrame) {
	s := r.h.s
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.ensureLoaded(ctx); err != nil {
		s.log.Error("load conversation", "conversation", r.id, "err", err)
		c.sendError(CodeInternal, f.ID)
		return
	}
	if r.conv.State == store.StateClosed {
		c.sendError(CodeConversationClosed, f.ID)
		return
	}
	msgs := []store.Message{{
		ClientID: f.ID, Role: store.RoleVisitor, Kind: store.KindMessage,
		Body: mustJSON(messageBody{Text: f.Text}),
	}}
	var ans *kb.Answer
	var lang *kb.Pref // the language the conversation moves to, unless the visitor chose one
	if r.conv.State == store.StateBot {
		if m, a, ok := r.botAnswer(f.Text); ok {
			msgs, ans, lang = append(msgs, m), &a, r.movedLang(a)
		}
	}
	stored, err := r.appendAs(ctx, c, lang, msgs)
	if err == nil {
		r.lastQuestion = f.Text
	}
	if err == nil && ans != nil && ans.Handoff {
		r.enqueueLocked(ctx, ans.Reason, f.Text)
	}
	switch {
	case errors.Is(err, store.ErrDuplicate):
		// A retry of a message already stored: confirm it, never answer it twice.
		c.sendFrame(protocol.ServerFrame{Type: protocol.TypeAck, ID: f.ID, Seq: stored[0].Seq, Duplicate: true})
	case err != nil:
		s.log.Error("store visitor message", "conversation", r.id, "err", err)
		c.sendError(CodeInternal, f.ID)
	}
}

// reply has the bot answer a question already stored (one left unanswered by a restart).
func (r *room) reply(ctx context.Context, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ans, ok := r.botAnswer(text); ok {
		if _, err := r.appendAs(ctx, nil, r.movedLang(ans), []store.Message{m}); err != nil {
			r.h.s.log.Error("store answer", "conversation", r.id, "err", err)
		}
	}
}

// botAnswer asks the engine and returns the bot's message. r.mu must be held.
func (r *room) botAnswer(text string) (store.Message, kb.Answer, bool) {
	s := r.h.s
	q := kb.Query{Text: text, Hint: kb.Pref{Lang: r.conv.Lang, Script: r.conv.Script}}
	if r.conv.LangChosen {
		q.Lang = r.conv.Lang
		if r.conv.Script == "Hant" {
			q.Lang = "zh-Hant"
		}
	}
	ans, e, err := s.answerCached(q)
	if err != nil {
		s.log.Error("answer", "conversation", r.id, "err", err)
		return store.Message{}, ans, false
	}
	body := e.botBody(func() json.RawMessage {
		return mustJSON(messageBody{Text: ans.Text, Lang: ans.Lang, Answer: wireAnswer(ans)})
	})
	return store.Message{Role: store.RoleBot, Kind: store.KindMessage, Body: body}, ans, true
}

// movedLang is the language the conversation moves to with an answer: the one the visitor
// wrote in, unless they chose one or it is the conversation's already (nil then). r.mu must be
// held.
func (r *room) movedLang(a kb.Answer) *kb.Pref {
	if r.conv.LangChosen || a.Lang == r.conv.Lang && a.Script == r.conv.Script {
		return nil
	}
	return &kb.Pref{Lang: a.Lang, Script: a.Script}
}

func wireAnswer(a kb.Answer) *protocol.Answer {
	w := &protocol.Answer{
		FAQID: a.FAQID, Kind: a.Kind, Confidence: a.Confidence, Handoff: a.Handoff, Reason: a.Reason,
		AsOf: a.AsOf, Script: a.Script,
	}
	if a.Source != nil {
		w.Source = &protocol.Source{Speaker: a.Source.Speaker, Outlet: a.Source.Outlet, Document: a.Source.Document}
	}
	for _, rel := range a.Related {
		w.Related = append(w.Related, protocol.Suggestion{ID: rel.ID, Question: rel.Question})
	}
	return w
}

// chooseLang switches the conversation to a language the visitor chose, or back to
// detecting it ("auto").
func (r *room) chooseLang(ctx context.Context, c *client, tag string) {
	s := r.h.s
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.ensureLoaded(ctx); err != nil {
		c.sendError(CodeInternal, "")
		return
	}
	p, chosen := kb.Pref{Lang: r.conv.Lang, Script: r.conv.Script}, false
	if tag != "auto" {
		var ok bool
		if p, ok = kb.ParseLang(tag); !ok {
			c.sendError(CodeUnsupportedLang, "")
			return
		}
		chosen = true
	}
	if err := s.store.SetLang(ctx, r.id, p.Lang, p.Script, chosen); err != nil {
		c.sendError(CodeInternal, "")
		return
	}
	r.conv.Lang, r.conv.Script, r.conv.LangChosen = p.Lang, p.Script, chosen
	for other := range r.clients {
		other.setLang(p)
	}
	text := s.cat.T(p.Lang, "LanguageChanged", nil)
	if _, err := r.appendLocked(ctx, store.Message{
		Role: store.RoleSystem, Kind: store.KindEvent,
		Body: mustJSON(messageBody{Event: protocol.EventLanguage, Lang: p.Lang, Text: text}),
	}); err != nil {
		s.log.Error("store language event", "conversation", r.id, "err", err)
	}
}

// feedback stores the visitor's verdict on a bot answer; "not helpful" offers a person.
func (r *room) feedback(ctx context.Context, c *client, seq int64, helpful bool) {
	s := r.h.s
	m, err := s.store.Message(ctx, r.id, seq)
	if errors.Is(err, store.ErrNotFound) || err == nil && m.Role != store.RoleBot {
		c.sendError(CodeNotFound, "")
		return
	}
	if err != nil {
		c.sendError(CodeInternal, "")
		return
	}
	if err := s.store.SaveFeedback(ctx, r.id, seq, helpful, s.now()); err != nil {
		c.sendError(CodeInternal, "")
		return
	}
	c.sendFrame(protocol.ServerFrame{Type: protocol.TypeAck, Seq: seq})
	if helpful {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.notHelpful++; r.notHelpful >= 2 && r.conv.State == store.StateBot {
		// Two answers that did not help: a person takes over.
		r.enqueueLocked(ctx, "feedback", r.lastQuestion)
		return
	}
	lang := r.conv.Lang
	if lang == "" {
		lang = c.currentLang().Lang
	}
	if _, err := r.appendLocked(ctx, store.Message{
		Role: store.RoleBot, Kind: store.KindMessage,
		Body: mustJSON(messageBody{Text: s.cat.T(lang, "FeedbackOfferAgent", nil), Lang: lang,
			Answer: &protocol.Answer{OfferAgent: true}}),
	}); err != nil {
		s.log.Error("store feedback reply", "conversation", r.id, "err", err)
	}
}

// sync sends the connection the messages after seq (after a welcome that said "more").
func (r *room) sync(ctx context.Context, c *client, after int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	msgs, err := r.h.s.store.MessagesAfter(ctx, r.id, after, replayLimit+1)
	if err != nil {
		c.sendError(CodeInternal, "")
		return
	}
	more := len(msgs) > replayLimit
	if more {
		msgs = msgs[:replayLimit]
	}
	c.sendFrame(protocol.ServerFrame{Type: "sync", Messages: toWire(msgs), More: more})
}

// close ends the conversation and tells its connections.
func (r *room) close(ctx context.Context) {
	s := r.h.s
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.appendLocked(ctx, store.Message{
		Role: store.RoleSystem, Kind: store.KindEvent,
		Body: mustJSON(messageBody{Event: protocol.EventClosed, Lang: r.conv.Lang,
			Text: s.cat.T(r.conv.Lang, "ConversationClosed", nil)}),
	}); err != nil {
		s.log.Error("store close event", "conversation", r.id, "err", err)
		return
	}
	if err := s.store.SetState(ctx, r.id, store.StateClosed, s.now()); err != nil {
		s.log.Error("close conversation", "conversation", r.id, "err", err)
		return
	}
	r.conv.State = store.StateClosed
}

// leaveMessage stores a message the visitor leaves when no agent can take the conversation.
func (r *room) leaveMessage(ctx context.Context, c *client, f protocol.ClientFrame) {
	s := r.h.s
	text, contact := strings.TrimSpace(f.Text), strings.TrimSpace(f.Contact)
	if text == "" || contact == "" {
		c.sendError(CodeEmpty, f.ID)
		return
	}
	if utf8.RuneCountInString(text) > MaxQuestionRunes || utf8.RuneCountInString(contact) > 200 {
		c.sendError(CodeTooLong, f.ID)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.ensureLoaded(ctx); err != nil {
		c.sendError(CodeInternal, f.ID)
		return
	}
	if r.conv.State == store.StateClosed {
		c.sendError(CodeConversationClosed, f.ID)
		return
	}
	if err := s.store.LeaveMessage(ctx, store.LeftMessage{ConversationID: r.id, Lang: r.conv.Lang, Contact: contact,
		Text: text, CreatedAt: s.now()}); err != nil {
		c.sendError(CodeInternal, f.ID)
		return
	}
	if _, err := r.appendLocked(ctx, store.Message{Role: store.RoleSystem, Kind: store.KindEvent, Body: mustJSON(messageBody{
		Event: protocol.EventMessageLeft, Lang: r.conv.Lang, Text: r.say(s.cat.T(r.conv.Lang, "MessageLeft", nil)),
	})}); err != nil {
		s.log.Error("store message left", "conversation", r.id, "err", err)
	}
	r.h.desk.broadcast()
}

func toTraditional(s string) string { return kb.ToTraditional(s, "") }
