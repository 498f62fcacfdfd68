package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/hotline12367/hotline/client"
	"github.com/hotline12367/hotline/protocol"
	"github.com/hotline12367/hotline/server"
	"github.com/hotline12367/hotline/store"
)

func TestIdleConversationCloses(t *testing.T) {
	clk := newClock()
	cfg := testConfig()
	cfg.IdleTimeout = 30 * time.Minute
	s := startServer(t, cfg, clk.Now)
	ctx := context.Background()

	idleSess := &client.Session{}
	idle := s.dial(t, idleSess, acceptLanguage("fr"))
	_, ans := ask(t, idle, "q1", "Qu'est-ce que la carte cinq étoiles ?")
	idleSess.Observe(ans)
	clk.Advance(20 * time.Minute)
	active := s.dial(t, &client.Session{}, acceptLanguage("en"))

	clk.Advance(10*time.Minute + time.Second) // idle: 30 min 1 s, active: 10 min 1 s
	if n := s.srv.CloseIdleForTest(ctx); n != 1 {
		t.Errorf("closed: got %d conversations, want 1", n)
	}

	f, _ := next(t, idle, "the closed event", isEvent(protocol.EventClosed))
	m := f.Message
	if want := catalog.T("fr", "ConversationClosed", nil); m.Text != want || m.Lang != "fr" || m.Seq != idleSess.LastSeq+1 {
		t.Errorf("closed event: got seq %d %s %q, want seq %d fr %q", m.Seq, m.Lang, m.Text, idleSess.LastSeq+1, want)
	}
	if err := idle.Send("q2", "Bonjour ?"); err != nil {
		t.Fatal(err)
	}
	f, _ = next(t, idle, "conversation_closed", func(f protocol.ServerFrame) bool {
		return f.Type == protocol.TypeError || f.Type == protocol.TypeAck
	})
	if f.Error == nil || f.Error.Code != server.CodeConversationClosed || f.Error.Ref != "q2" {
		t.Fatalf("message to a closed conversation: got %s, want error conversation_closed for q2", describe([]protocol.ServerFrame{f}))
	}
	if want := catalog.T("fr", "ErrConversationClosed", nil); f.Error.Message != want {
		t.Errorf("message: got %q, want the French %q", f.Error.Message, want)
	}
	// Nor can a message be left in it.
	if err := idle.Write(protocol.ClientFrame{Type: protocol.TypeLeaveMessage, ID: "l1", Text: "Rappelez-moi", Contact: "a@b.fr"}); err != nil {
		t.Fatal(err)
	}
	f, _ = next(t, idle, "conversation_closed", func(f protocol.ServerFrame) bool { return f.Type == protocol.TypeError })
	if f.Error.Code != server.CodeConversationClosed || f.Error.Ref != "l1" {
		t.Errorf("message left in a closed conversation: got %s, want error conversation_closed for l1", describe([]protocol.ServerFrame{f}))
	}

	// The other conversation was not idle long enough and goes on.
	if _, ans := ask(t, active, "a1", "What is a port visa?"); ans.Message.Answer == nil {
		t.Errorf("active conversation: got no answer")
	}
	// Closed conversations are not closed twice.
	if n := s.srv.CloseIdleForTest(ctx); n != 0 {
		t.Errorf("second pass: got %d conversations closed, want 0", n)
	}
	// A reconnection finds the conversation closed, with its history.
	idle.Close()
	idleSess.LastSeq = 0
	again := s.dial(t, idleSess, nil)
	if w := again.Welcome; !w.Resumed || w.State != store.StateClosed || len(w.Messages) != 4 {
		t.Errorf("welcome: got resumed=%v state=%q %d messages, want resumed, closed, 4 messages", w.Resumed, w.State, len(w.Messages))
	}
}

func TestResumeTokenExpires(t *testing.T) {
	clk := newClock()
	cfg := testConfig()
	cfg.TokenTTL = 2 * time.Hour
	cfg.IdleTimeout = 24 * time.Hour
	s := startServer(t, cfg, clk.Now)
	tests := []struct {
		name  string
		after time.Duration
		ok    bool
	}{
		{"fresh", 0, true},
		{"just before expiry", 2*time.Hour - time.Millisecond, true},
		{"at expiry", 2 * time.Hour, false},
		{"long after", 30 * 24 * time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sess := &client.Session{}
			c := s.dial(t, sess, acceptLanguage("ar"))
			c.Close()
			clk.Advance(tt.after)
			r := dialRaw(t, s.wsURL(), acceptLanguage("ar"))
			r.write(protocol.ClientFrame{Type: protocol.TypeHello, ResumeToken: sess.ResumeToken, LastSeq: 1})
			f := r.until("the welcome or an error", func(f protocol.ServerFrame) bool {
				return f.Type == protocol.TypeWelcome || f.Type == protocol.TypeError
			})
			if tt.ok {
				if f.Type != protocol.TypeWelcome || !f.Resumed || f.ConversationID != sess.ConversationID {
					t.Fatalf("got %s, want the conversation resumed", describe([]protocol.ServerFrame{f}))
				}
				return
			}
			if f.Error == nil || f.Error.Code != server.CodeResumeInvalid {
				t.Fatalf("got %s, want error resume_invalid", describe([]protocol.ServerFrame{f}))
			}
			if want := catalog.T("ar", "ErrResumeInvalid", nil); f.Error.Message != want {
				t.Errorf("message: got %q, want the Arabic %q", f.Error.Message, want)
			}
			w := r.until("the welcome", func(f protocol.ServerFrame) bool { return f.Type == protocol.TypeWelcome })
			if w.Resumed || w.ConversationID == sess.ConversationID {
				t.Errorf("welcome: got resumed=%v id=%q, want a new conversation", w.Resumed, w.ConversationID)
			}
		})
	}

	// Resuming moves the expiry: a visitor who comes back every hour keeps the conversation.
	sess := &client.Session{}
	s.dial(t, sess, nil).Close()
	for i := range 4 {
		clk.Advance(time.Hour + 30*time.Minute)
		c := s.dial(t, sess, nil)
		if !c.Welcome.Resumed {
			t.Fatalf("visit %d after 1h30: got a new conversation, want the same", i+1)
		}
		c.Close()
	}
}
