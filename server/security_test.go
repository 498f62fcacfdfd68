package server_test

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"

	"github.com/hotline12367/hotline/client"
	"github.com/hotline12367/hotline/protocol"
	"github.com/hotline12367/hotline/server"
)

var base32Token = regexp.MustCompile(`^[A-Z2-7]+$`)

func TestResumeTokensAreUnguessable(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	seen := map[string]bool{}
	ids := map[string]bool{}
	for range 20 {
		sess := &client.Session{}
		c := s.dial(t, sess, nil)
		c.Close()
		tok := sess.ResumeToken
		if !base32Token.MatchString(tok) {
			t.Errorf("token %q: got characters outside base32 (A-Z 2-7)", tok)
		}
		if bits := 5 * len(tok); bits < 128 {
			t.Errorf("token %q: got %d bits, want at least 128", tok, bits)
		}
		if seen[tok] || ids[sess.ConversationID] {
			t.Errorf("token %q or conversation id %q: got it twice, want each new", tok, sess.ConversationID)
		}
		if strings.Contains(tok, strings.ToUpper(sess.ConversationID)) {
			t.Errorf("token %q: got the conversation id %q inside it", tok, sess.ConversationID)
		}
		seen[tok], ids[sess.ConversationID] = true, true
	}
}

// A wrong token never opens someone else's conversation: it starts a new one. There is no
// frame or route that takes a conversation id, so the only way in is the token.
func TestResumeWithWrongToken(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	victim := &client.Session{}
	vc := s.dial(t, victim, acceptLanguage("en"))
	const secret = "My passport number is E12345678. Can I transit through China for 144 hours without a visa?"
	_, vans := ask(t, vc, "v1", secret)
	vc.Close()
	private := []string{secret, "E12345678", vans.Message.Text}

	sum := sha256.Sum256([]byte(victim.ResumeToken))
	tok := victim.ResumeToken
	flipped := tok[:len(tok)-1] + map[bool]string{true: "B", false: "A"}[tok[len(tok)-1] == 'A']
	tests := []struct{ name, token string }{
		{"made up", strings.Repeat("A", len(tok))},
		{"conversation id", victim.ConversationID},
		{"conversation id upper case", strings.ToUpper(victim.ConversationID)},
		{"last character changed", flipped},
		{"first half", tok[:len(tok)/2]},
		{"one character more", tok + "A"},
		{"SHA-256 of the token, as stored", hex.EncodeToString(sum[:])},
		{"SQL", `' OR '1'='1`},
		{"not ASCII", "токен🔑"},
		{"long", strings.Repeat("Z", 4000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, s.wsURL(), acceptLanguage("fr"))
			// last_seq from the other conversation: the new one must still start at its greeting.
			c.write(protocol.ClientFrame{Type: protocol.TypeHello, ResumeToken: tt.token, LastSeq: 2})
			f := c.until("an error", func(f protocol.ServerFrame) bool { return f.Type != protocol.TypeMessage })
			if f.Error == nil || f.Error.Code != server.CodeResumeInvalid {
				t.Fatalf("got %s, want error resume_invalid", describe([]protocol.ServerFrame{f}))
			}
			if want := catalog.T("fr", "ErrResumeInvalid", nil); f.Error.Message != want {
				t.Errorf("message: got %q, want the French %q", f.Error.Message, want)
			}
			w := c.until("the welcome", func(f protocol.ServerFrame) bool { return f.Type == protocol.TypeWelcome })
			if w.Resumed || w.ConversationID == victim.ConversationID || w.ResumeToken == tt.token || w.ResumeToken == victim.ResumeToken {
				t.Errorf("welcome: got resumed=%v id=%q, want a new conversation with a new token", w.Resumed, w.ConversationID)
			}
			if len(w.Messages) != 1 || w.Messages[0].Seq != 1 || w.Messages[0].Text != catalog.T("fr", "Greeting", nil) || w.Seq != 1 {
				t.Errorf("welcome messages: got %s, want only the French greeting", describe([]protocol.ServerFrame{w}))
			}
			for _, m := range w.Messages {
				for _, p := range private {
					if strings.Contains(m.Text, p) {
						t.Errorf("welcome: got %q from the other conversation", p)
					}
				}
			}
			// The new conversation is the visitor's own: its token resumes it.
			again := s.dial(t, &client.Session{ResumeToken: w.ResumeToken, LastSeq: 1}, nil)
			if !again.Welcome.Resumed || again.Welcome.ConversationID != w.ConversationID {
				t.Errorf("resume of the new conversation: got resumed=%v id=%q, want %q", again.Welcome.Resumed, again.Welcome.ConversationID, w.ConversationID)
			}
		})
	}

	// The victim's own token still works and shows the whole conversation.
	victim.LastSeq = 0
	vc = s.dial(t, victim, nil)
	if w := vc.Welcome; !w.Resumed || len(w.Messages) != 3 || w.Messages[1].Text != secret {
		t.Errorf("victim's resume: got %s, want greeting, question and answer", describe([]protocol.ServerFrame{w}))
	}
}
