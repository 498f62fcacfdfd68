package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/hotline12367/hotline/internal/testenv"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/hotline12367/hotline/client"
	"github.com/hotline12367/hotline/protocol"
	"github.com/hotline12367/hotline/server"
	"github.com/hotline12367/hotline/store"
)

// The engine and the catalog are the test binary's, built once (testenv).
var (
	engine  = testenv.Engine()
	catalog = testenv.Catalog()
)

// closeEngine runs the tests and then stops the engine's index, so that goleak, which checks
// after Run returns, sees only goroutines the tests left behind.
type closeEngine struct{ m *testing.M }

func (c closeEngine) Run() int {
	code := c.m.Run()
	if err := testenv.Close(); err != nil {
		fmt.Println("close engine:", err)
		return 1
	}
	return code
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(closeEngine{m},
		// bleve's analysis workers are started by its package init and live as long as the
		// process: not ours to stop.
		goleak.IgnoreTopFunction("github.com/blevesearch/bleve_index_api.AnalysisWorker"))
}

// waitTime bounds every wait for a frame: generous, because CI runs -race on two cores.
const waitTime = 15 * time.Second

// testConfig is the tests' configuration: no message rate limits in the way (the tests of the
// limits set their own).
func testConfig() server.Config { return testenv.Config() }

// testServer is a real server (server.New over the embedded knowledge base, the locales and a
// SQLite file in a temp dir) behind an httptest.Server. restart stops it and starts a new
// one on the same database file.
type testServer struct {
	t    *testing.T
	cfg  server.Config
	now  func() time.Time
	path string // the database file, kept across restarts

	srv *server.Server
	db  *store.SQLite
	ts  *httptest.Server
	log *testenv.LogBuffer // what every server of the test logged, shown when the test fails
	// setup, when set, runs on each new server before Start (to add channels, routes).
	setup func(srv *server.Server)
}

// startServer starts a server with cfg and the clock now (nil: time.Now); it is stopped when
// the test ends.
func startServer(t *testing.T, cfg server.Config, now func() time.Time) *testServer {
	t.Helper()
	return startServerWith(t, cfg, now, nil)
}

// startServerWith is startServer with a setup run on each new server before Start.
func startServerWith(t *testing.T, cfg server.Config, now func() time.Time, setup func(*server.Server)) *testServer {
	t.Helper()
	s := &testServer{t: t, cfg: cfg, now: now, path: filepath.Join(t.TempDir(), "hotline.db"), log: &testenv.LogBuffer{}, setup: setup}
	s.start()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("server log:\n%s", s.log)
		}
	})
	return s
}

func (s *testServer) start() {
	s.t.Helper()
	db, err := store.Open(s.path)
	if err != nil {
		s.t.Fatalf("store.Open: %v", err)
	}
	s.db = db
	s.srv = server.New(s.cfg, server.Options{Engine: engine, Catalog: catalog, Store: db, Now: s.now,
		Logger: slog.New(slog.NewTextHandler(s.log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if s.setup != nil {
		s.setup(s.srv)
	}
	s.srv.Start(context.Background())
	s.ts = httptest.NewServer(s.srv)
}

// stop shuts the server down as cmd/hotline does: no new connections, then the hub (which
// tells clients to reconnect and drains them), then the store. It does nothing when stopped.
func (s *testServer) stop() {
	s.t.Helper()
	if s.ts == nil {
		return
	}
	s.ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.t.Errorf("Shutdown: %v", err)
	}
	if err := s.db.Close(); err != nil {
		s.t.Errorf("db.Close: %v", err)
	}
	s.ts, s.srv, s.db = nil, nil, nil
}

// restart stops the server and starts a new one on the same database file.
func (s *testServer) restart() {
	s.t.Helper()
	s.stop()
	s.start()
}

func (s *testServer) wsURL() string { return "ws" + strings.TrimPrefix(s.ts.URL, "http") + "/ws" }

// dial connects a client.Conn and says hello for sess; the connection is closed with the test.
func (s *testServer) dial(t *testing.T, sess *client.Session, header http.Header) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	c, err := client.Dial(ctx, s.wsURL(), sess, client.Options{Header: header})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func acceptLanguage(v string) http.Header {
	if v == "" {
		return nil
	}
	return http.Header{"Accept-Language": {v}}
}

// next reads frames until match accepts one and returns it with the frames read before it.
func next(t *testing.T, c *client.Conn, what string, match func(protocol.ServerFrame) bool) (protocol.ServerFrame, []protocol.ServerFrame) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	f, before, err := c.ReadUntil(ctx, match)
	if err != nil {
		t.Fatalf("waiting for %s: %v (read before: %s)", what, err, describe(before))
	}
	return f, before
}

// ask sends a visitor message and returns its ack and the bot's answer, whichever comes
// first (TestAckBeforeAnswer checks the order).
func ask(t *testing.T, c *client.Conn, id, text string) (ack, answer protocol.ServerFrame) {
	t.Helper()
	if err := c.Send(id, text); err != nil {
		t.Fatalf("send %s: %v", id, err)
	}
	for ack.Type == "" || answer.Type == "" {
		f, _ := next(t, c, "the ack of and the answer to "+id, func(f protocol.ServerFrame) bool {
			return f.Type == protocol.TypeAck && f.ID == id || client.IsAnswer(f) ||
				f.Type == protocol.TypeError && f.Error != nil && f.Error.Ref == id
		})
		switch {
		case f.Type == protocol.TypeError:
			t.Fatalf("message %s: got %s, want an ack and an answer", id, describe([]protocol.ServerFrame{f}))
		case f.Type == protocol.TypeAck:
			ack = f
		default:
			answer = f
		}
	}
	return ack, answer
}

// expectAck waits for the ack of message id; an error about id fails the test.
func expectAck(t *testing.T, c *client.Conn, id string) protocol.ServerFrame {
	t.Helper()
	f, _ := next(t, c, "ack of "+id, func(f protocol.ServerFrame) bool {
		return f.Type == protocol.TypeAck && f.ID == id || f.Type == protocol.TypeError && f.Error != nil && f.Error.Ref == id
	})
	if f.Type != protocol.TypeAck {
		t.Fatalf("message %s: got %s, want an ack", id, describe([]protocol.ServerFrame{f}))
	}
	return f
}

func isError(code string) func(protocol.ServerFrame) bool {
	return func(f protocol.ServerFrame) bool {
		return f.Type == protocol.TypeError && f.Error != nil && f.Error.Code == code
	}
}

func isEvent(name string) func(protocol.ServerFrame) bool {
	return func(f protocol.ServerFrame) bool {
		return f.Type == protocol.TypeEvent && f.Message != nil && f.Message.Event == name
	}
}

func describe(fs []protocol.ServerFrame) string {
	var parts []string
	for _, f := range fs {
		b, _ := json.Marshal(f)
		if len(b) > 300 {
			b = append(b[:300], "..."...)
		}
		parts = append(parts, string(b))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// rawConn is a WebSocket without the client package, for frames the client never sends
// (bad JSON, oversized frames) and for connections refused before hello.
type rawConn struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialRaw(t *testing.T, url string, header http.Header) *rawConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx, url, header)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	resp.Body.Close()
	t.Cleanup(func() { ws.Close() })
	return &rawConn{t: t, ws: ws}
}

func (c *rawConn) writeText(s string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *rawConn) write(f protocol.ClientFrame) {
	c.t.Helper()
	b, err := json.Marshal(f)
	if err != nil {
		c.t.Fatal(err)
	}
	c.writeText(string(b))
}

// read returns the next frame, or the error that ended the connection.
func (c *rawConn) read() (protocol.ServerFrame, error) {
	var f protocol.ServerFrame
	c.ws.SetReadDeadline(time.Now().Add(waitTime))
	_, b, err := c.ws.ReadMessage()
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("bad frame %q: %w", b, err)
	}
	return f, nil
}

func (c *rawConn) until(what string, match func(protocol.ServerFrame) bool) protocol.ServerFrame {
	c.t.Helper()
	var before []protocol.ServerFrame
	for {
		f, err := c.read()
		if err != nil {
			c.t.Fatalf("waiting for %s: %v (read before: %s)", what, err, describe(before))
		}
		if match(f) {
			return f
		}
		before = append(before, f)
	}
}

// hello says hello and returns the welcome.
func (c *rawConn) hello(f protocol.ClientFrame) protocol.ServerFrame {
	c.t.Helper()
	f.Type = protocol.TypeHello
	c.write(f)
	return c.until("welcome", func(f protocol.ServerFrame) bool { return f.Type == protocol.TypeWelcome })
}

// closed reads until the connection ends and returns the close error and the frames read.
func (c *rawConn) closed() (*websocket.CloseError, []protocol.ServerFrame) {
	c.t.Helper()
	var frames []protocol.ServerFrame
	for {
		f, err := c.read()
		if err == nil {
			frames = append(frames, f)
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			c.t.Fatalf("connection ended with %v, want a close frame (read before: %s)", err, describe(frames))
		}
		return ce, frames
	}
}

// clock is a controllable time source for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// answerText is what the knowledge base says for entry id in lang.
func answerText(t *testing.T, id, lang string) string {
	t.Helper()
	e := engine.Entry(id)
	if e == nil || e.Text[lang] == nil {
		t.Fatalf("no entry %s in %s", id, lang)
	}
	return e.Text[lang].A
}

// closeCode is the close code in err, or -1 when err is not a close.
func closeCode(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}
