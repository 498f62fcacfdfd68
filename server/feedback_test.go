package server_test

import (
	"context"
	"errors"
	"testing"

	"github.com/hotline12367/hotline/client"
	"github.com/hotline12367/hotline/protocol"
	"github.com/hotline12367/hotline/server"
	"github.com/hotline12367/hotline/store"
)

func TestFeedback(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	sess := &client.Session{}
	c := s.dial(t, sess, acceptLanguage("fr"))
	ack, ans := ask(t, c, "q1", "Puis-je faire une escale de 144 heures en Chine sans visa ?")
	question, answer := ack.Seq, ans.Message.Seq
	sess.Observe(ans)

	tests := []struct {
		name      string
		seq       int64
		helpful   bool
		code      string // error code, or "" for an ack
		offer     bool   // a bot message offering a person follows
		wantSaved bool
	}{
		{"helpful", answer, true, "", false, true},
		{"changed to not helpful", answer, false, "", true, true},
		{"the greeting", 1, true, "", false, true},
		{"the visitor's own message", question, true, server.CodeNotFound, false, false},
		{"no such message", 999, false, server.CodeNotFound, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.helpful
			if err := c.Write(protocol.ClientFrame{Type: protocol.TypeFeedback, Seq: tt.seq, Helpful: &h}); err != nil {
				t.Fatal(err)
			}
			f, _ := next(t, c, "the verdict", func(f protocol.ServerFrame) bool {
				return f.Type == protocol.TypeAck && f.ID == "" || f.Type == protocol.TypeError
			})
			if tt.code != "" {
				if f.Error == nil || f.Error.Code != tt.code {
					t.Fatalf("got %s, want error %s", describe([]protocol.ServerFrame{f}), tt.code)
				}
				if want := catalog.T("fr", "ErrNotFound", nil); f.Error.Message != want {
					t.Errorf("message: got %q, want the French %q", f.Error.Message, want)
				}
			} else if f.Type != protocol.TypeAck || f.Seq != tt.seq {
				t.Fatalf("got %s, want an ack of seq %d", describe([]protocol.ServerFrame{f}), tt.seq)
			}
			if tt.offer {
				f, _ := next(t, c, "the offer of a person", client.IsAnswer)
				m := f.Message
				if m.Answer == nil || !m.Answer.OfferAgent {
					t.Errorf("reply: got %s, want answer.offer_agent=true", describe([]protocol.ServerFrame{f}))
				}
				if want := catalog.T("fr", "FeedbackOfferAgent", nil); m.Lang != "fr" || m.Text != want {
					t.Errorf("reply: got %s %q, want fr %q", m.Lang, m.Text, want)
				}
				sess.Observe(f)
			}
			got, err := s.db.Feedback(context.Background(), sess.ConversationID, tt.seq)
			switch {
			case tt.wantSaved && (err != nil || got != tt.helpful):
				t.Errorf("stored: got %v, %v, want %v", got, err, tt.helpful)
			case !tt.wantSaved && !errors.Is(err, store.ErrNotFound):
				t.Errorf("stored: got %v, %v, want ErrNotFound", got, err)
			}
		})
	}

	// "Helpful" adds nothing to the conversation; "not helpful" added one message.
	if want := answer + 1; sess.LastSeq != want {
		t.Errorf("last seq: got %d, want %d", sess.LastSeq, want)
	}
	ack, _ = ask(t, c, "q2", "merci")
	if want := answer + 2; ack.Seq != want {
		t.Errorf("next message: got seq %d, want %d", ack.Seq, want)
	}

	// Another conversation's seqs are not reachable: the same seq there is not found.
	other := s.dial(t, &client.Session{}, acceptLanguage("fr"))
	h := true
	if err := other.Write(protocol.ClientFrame{Type: protocol.TypeFeedback, Seq: answer, Helpful: &h}); err != nil {
		t.Fatal(err)
	}
	if f, _ := next(t, other, "the verdict", func(f protocol.ServerFrame) bool {
		return f.Type == protocol.TypeAck || f.Type == protocol.TypeError
	}); f.Error == nil || f.Error.Code != server.CodeNotFound {
		t.Errorf("feedback on seq %d of a conversation with only a greeting: got %s, want not_found", answer, describe([]protocol.ServerFrame{f}))
	}
	if got, err := s.db.Feedback(context.Background(), sess.ConversationID, answer); err != nil || got {
		t.Errorf("first conversation's feedback: got %v, %v, want false (unchanged)", got, err)
	}
}
