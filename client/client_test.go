package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hotline12367/hotline/client"
	"github.com/hotline12367/hotline/kb"
	"github.com/hotline12367/hotline/locales"
	"github.com/hotline12367/hotline/protocol"
	"github.com/hotline12367/hotline/server"
	"github.com/hotline12367/hotline/store"
)

const waitTime = 15 * time.Second

// engine is a small knowledge base (two entries of the embedded one): building the whole
// index under -race takes a while, and the client does not care what the bot knows.
var engine *kb.Engine

func TestMain(m *testing.M) {
	all, err := kb.Load(kb.Embedded())
	if err != nil {
		panic(err)
	}
	var entries []*kb.Entry
	for _, e := range all {
		if e.ID == "transit-144h" || e.ID == "port-visa" {
			e.Related = nil
			entries = append(entries, e)
		}
	}
	if engine, err = kb.New(entries, 0); err != nil {
		panic(err)
	}
	code := m.Run()
	engine.Close()
	os.Exit(code)
}

// startServer runs a real server and returns its WebSocket URL and a function that shuts it
// down (it also runs when the test ends).
func startServer(t *testing.T, cfg server.Config) (url string, shutdown func()) {
	t.Helper()
	cat, err := locales.Load()
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(cfg, server.Options{Engine: engine, Catalog: cat, Store: db})
	srv.Start(context.Background())
	ts := httptest.NewServer(srv)
	stopped := false
	shutdown = func() {
		if stopped {
			return
		}
		stopped = true
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitTime)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("db.Close: %v", err)
		}
	}
	t.Cleanup(shutdown)
	return "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws", shutdown
}

func dial(t *testing.T, url string, sess *client.Session, o client.Options) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	c, err := client.Dial(ctx, url, sess, o)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readUntil(t *testing.T, c *client.Conn, match func(protocol.ServerFrame) bool) protocol.ServerFrame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	f, _, err := c.ReadUntil(ctx, match)
	if err != nil {
		t.Fatalf("ReadUntil: %v", err)
	}
	return f
}

func TestSessionObserve(t *testing.T) {
	msgs := func(seqs ...int64) []protocol.Message {
		var ms []protocol.Message
		for _, s := range seqs {
			ms = append(ms, protocol.Message{Seq: s})
		}
		return ms
	}
	tests := []struct {
		name  string
		last  int64
		frame protocol.ServerFrame
		want  int64
	}{
		{"welcome", 0, protocol.ServerFrame{Type: "welcome", Messages: msgs(1, 2, 3)}, 3},
		{"message", 3, protocol.ServerFrame{Type: "message", Message: &protocol.Message{Seq: 4}}, 4},
		{"older message", 5, protocol.ServerFrame{Type: "message", Message: &protocol.Message{Seq: 4}}, 5},
		{"sync out of order", 2, protocol.ServerFrame{Type: "sync", Messages: msgs(5, 3, 4)}, 5},
		{"ack", 3, protocol.ServerFrame{Type: "ack", Seq: 9}, 3},
		{"error", 3, protocol.ServerFrame{Type: "error", Error: &protocol.ErrorBody{Code: "empty"}}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := client.Session{LastSeq: tt.last}
			s.Observe(tt.frame)
			if s.LastSeq != tt.want {
				t.Errorf("LastSeq: got %d, want %d", s.LastSeq, tt.want)
			}
		})
	}
}

func TestDialAndResume(t *testing.T) {
	url, _ := startServer(t, server.DefaultConfig())
	sess := &client.Session{Lang: "fr"}
	c := dial(t, url, sess, client.Options{})
	if sess.ConversationID == "" || sess.ResumeToken == "" || sess.LastSeq != 1 {
		t.Fatalf("session after Dial: got %+v, want id, token and last seq 1", sess)
	}
	if c.Welcome.Type != protocol.TypeWelcome || c.Welcome.Lang != "fr" {
		t.Errorf("Welcome: got type %q lang %q, want welcome fr", c.Welcome.Type, c.Welcome.Lang)
	}
	if err := c.Send("m1", "Puis-je faire une escale de 144 heures en Chine sans visa ?"); err != nil {
		t.Fatal(err)
	}
	ans := readUntil(t, c, client.IsAnswer)
	sess.Observe(ans)
	if ans.Message.Answer == nil || ans.Message.Answer.FAQID != "transit-144h" || sess.LastSeq != 3 {
		t.Errorf("answer: got %+v, last seq %d, want transit-144h and 3", ans.Message.Answer, sess.LastSeq)
	}
	if err := c.CloseNormal(); err != nil {
		t.Errorf("CloseNormal: %v", err)
	}

	before := *sess
	c = dial(t, url, sess, client.Options{})
	if !c.Welcome.Resumed || len(c.Welcome.Messages) != 0 || *sess != before {
		t.Errorf("resume: got resumed=%v %d messages session %+v, want resumed, none, %+v", c.Welcome.Resumed, len(c.Welcome.Messages), *sess, before)
	}
}

// A token the server does not know gives a new conversation, and the session follows it: its
// last seq is the new conversation's, not the old one's.
func TestDialWithInvalidTokenStartsOver(t *testing.T) {
	url, _ := startServer(t, server.DefaultConfig())
	sess := &client.Session{ResumeToken: "NOT-A-TOKEN", LastSeq: 5, ConversationID: "old"}
	c := dial(t, url, sess, client.Options{})
	if c.Welcome.Resumed || sess.ConversationID == "old" || sess.ResumeToken == "NOT-A-TOKEN" {
		t.Fatalf("session: got %+v resumed=%v, want a new conversation", sess, c.Welcome.Resumed)
	}
	if sess.LastSeq != 1 {
		t.Errorf("LastSeq: got %d, want 1 (the new conversation's greeting)", sess.LastSeq)
	}
	// What the visitor says next is not lost on the next reconnection.
	if err := c.Send("m1", "What is a port visa?"); err != nil {
		t.Fatal(err)
	}
	sess.Observe(readUntil(t, c, client.IsAnswer))
	c.Close()
	missed := *sess
	missed.LastSeq = 1
	c = dial(t, url, &missed, client.Options{})
	// The replay holds the visitor's message (seq 2) and the bot's reply (seq 3), and
	// whatever followed it (a handoff adds queue events), contiguous.
	ms := c.Welcome.Messages
	if len(ms) < 2 || ms[0].Seq != 2 || ms[0].ClientID != "m1" || ms[1].From != "bot" {
		t.Fatalf("replay after seq 1: got %+v, want m1 at seq 2 then the bot", ms)
	}
	for i, m := range ms {
		if m.Seq != int64(i+2) {
			t.Errorf("replay: message %d has seq %d, want %d", i, m.Seq, i+2)
		}
	}
}

func TestDialRefused(t *testing.T) {
	cfg := server.DefaultConfig()
	cfg.Origins = []string{"https://widget.example"}
	url, _ := startServer(t, cfg)
	tests := []struct {
		name   string
		header http.Header
		want   string
	}{
		{"origin", http.Header{"Origin": {"https://evil.example"}}, server.CodeOriginNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), waitTime)
			defer cancel()
			c, err := client.Dial(ctx, url, &client.Session{}, client.Options{Header: tt.header})
			if err == nil {
				c.Close()
				t.Fatalf("Dial: got a connection, want error %s", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Dial: got %v, want an error naming %s", err, tt.want)
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	if _, err := client.Dial(ctx, strings.Replace(url, "/ws", "/nope", 1), &client.Session{}, client.Options{}); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("Dial to a wrong path: got %v, want an error with HTTP 404", err)
	}
}

func TestReadAfterServerRestart(t *testing.T) {
	url, shutdown := startServer(t, server.DefaultConfig())
	c := dial(t, url, &client.Session{}, client.Options{})
	shutdown()
	f := readUntil(t, c, func(f protocol.ServerFrame) bool { return f.Type == protocol.TypeError })
	if f.Error.Code != "restarting" {
		t.Errorf("error: got %s, want restarting", f.Error.Code)
	}
	_, err := c.Read()
	var ce *websocket.CloseError
	if !errors.Is(err, client.ErrClosed) || !errors.As(err, &ce) || ce.Code != 1012 {
		t.Errorf("Read: got %v, want ErrClosed with close code 1012", err)
	}
}

func TestReadUntilDeadline(t *testing.T) {
	url, _ := startServer(t, server.DefaultConfig())
	c := dial(t, url, &client.Session{}, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, before, err := c.ReadUntil(ctx, func(protocol.ServerFrame) bool { return false })
	if err == nil || errors.Is(err, client.ErrClosed) {
		t.Errorf("ReadUntil with nothing to read: got %v, want a timeout", err)
	}
	if len(before) != 0 {
		t.Errorf("frames: got %d, want none", len(before))
	}
}
