package console_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"github.com/hotline12367/hotline/internal/chromium"
	"github.com/hotline12367/hotline/internal/testenv"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/hotline12367/hotline/client"
	"github.com/hotline12367/hotline/protocol"
	"github.com/hotline12367/hotline/server"
	"github.com/hotline12367/hotline/store"
	"github.com/hotline12367/hotline/web/console"
)

// The engine and the catalog are the test binary's, built once (testenv).
var (
	engine  = testenv.Engine()
	catalog = testenv.Catalog()
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Close()
	os.Exit(code)
}

// waitTime bounds every wait: generous, because CI runs -race on two cores.
const waitTime = 20 * time.Second

// testServer is a real hotline server (the embedded knowledge base, the locales, SQLite in a
// temp dir) with the console mounted as cmd/hotline mounts it. It keeps its address across
// restart, so that to a browser a restart is the server going away and coming back.
type testServer struct {
	t    *testing.T
	addr string
	path string
	log  *testenv.LogBuffer

	srv *server.Server
	db  *store.SQLite
	hs  *httptest.Server
}

func startServer(t *testing.T) *testServer {
	t.Helper()
	s := &testServer{t: t, path: filepath.Join(t.TempDir(), "hotline.db"), log: &testenv.LogBuffer{}}
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
	cfg := testenv.Config()
	srv := server.New(cfg, server.Options{Engine: engine, Catalog: catalog, Store: db,
		Logger: slog.New(slog.NewTextHandler(s.log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	srv.Handle("/console/", console.Handler(srv))
	srv.Start(context.Background())
	hs := httptest.NewUnstartedServer(srv)
	if s.addr != "" {
		var ln net.Listener
		for i := 0; ; i++ { // the old listener's port may take a moment to be free
			if ln, err = net.Listen("tcp", s.addr); err == nil || i == 50 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			s.t.Fatalf("listen again on %s: %v", s.addr, err)
		}
		hs.Listener.Close()
		hs.Listener = ln
	}
	hs.Start()
	s.addr = hs.Listener.Addr().String()
	s.db, s.srv, s.hs = db, srv, hs
}

// stop shuts the server down as cmd/hotline does; it does nothing when stopped.
func (s *testServer) stop() {
	s.t.Helper()
	if s.hs == nil {
		return
	}
	s.hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.t.Errorf("Shutdown: %v", err)
	}
	if err := s.db.Close(); err != nil {
		s.t.Errorf("db.Close: %v", err)
	}
	s.hs, s.srv, s.db = nil, nil, nil
}

func (s *testServer) restart() {
	s.t.Helper()
	s.stop()
	s.start()
}

func (s *testServer) url() string   { return "http://" + s.addr }
func (s *testServer) wsURL() string { return "ws://" + s.addr }

// addAgent creates an agent account directly in the store and returns its id.
func (s *testServer) addAgent(name, password, role string, langs ...string) string {
	s.t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		s.t.Fatal(err)
	}
	id := strings.ToLower(rand.Text()[:16])
	if err := s.db.CreateAgent(context.Background(), store.Agent{ID: id, Name: name, PasswordHash: string(hash),
		Langs: langs, Role: role, MaxChats: 3, CreatedAt: time.Now()}); err != nil {
		s.t.Fatalf("CreateAgent: %v", err)
	}
	return id
}

// ---- visitors ----

// visitor is a Go WebSocket client of the chat, as the widget would be.
type visitor struct {
	t    *testing.T
	c    *client.Conn
	sess *client.Session
}

func (s *testServer) visitor(t *testing.T, lang string) *visitor {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	sess := &client.Session{Lang: lang}
	var h http.Header
	if lang != "" {
		h = http.Header{"Accept-Language": {lang}}
	}
	c, err := client.Dial(ctx, s.wsURL()+"/ws", sess, client.Options{Header: h})
	if err != nil {
		t.Fatalf("visitor dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &visitor{t: t, c: c, sess: sess}
}

func (v *visitor) id() string { return v.sess.ConversationID }

// next reads frames until match accepts one.
func (v *visitor) next(what string, match func(protocol.ServerFrame) bool) (protocol.ServerFrame, []protocol.ServerFrame) {
	v.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	f, before, err := v.c.ReadUntil(ctx, match)
	if err != nil {
		v.t.Fatalf("visitor waiting for %s: %v (read before: %s)", what, err, describe(before))
	}
	return f, before
}

// ask sends a question and returns the bot's answer.
func (v *visitor) ask(id, text string) protocol.Message {
	v.t.Helper()
	if err := v.c.Send(id, text); err != nil {
		v.t.Fatalf("send: %v", err)
	}
	f, _ := v.next("the answer to "+id, func(f protocol.ServerFrame) bool {
		return client.IsAnswer(f) || f.Type == protocol.TypeError
	})
	if f.Type == protocol.TypeError {
		v.t.Fatalf("ask %q: got error %+v", text, f.Error)
	}
	return *f.Message
}

// say sends a message and waits for its ack (while an agent holds the conversation the bot
// does not answer).
func (v *visitor) say(id, text string) {
	v.t.Helper()
	if err := v.c.Send(id, text); err != nil {
		v.t.Fatalf("send: %v", err)
	}
	v.next("the ack of "+id, func(f protocol.ServerFrame) bool { return f.Type == protocol.TypeAck && f.ID == id })
}

// handoff asks for a person and waits until the conversation is queued.
func (v *visitor) handoff() {
	v.t.Helper()
	if err := v.c.Write(protocol.ClientFrame{Type: protocol.TypeHandoff}); err != nil {
		v.t.Fatal(err)
	}
	v.next("queued", isEvent(protocol.EventQueued))
}

func isEvent(name string) func(protocol.ServerFrame) bool {
	return func(f protocol.ServerFrame) bool {
		return f.Type == protocol.TypeEvent && f.Message != nil && f.Message.Event == name
	}
}

func fromAgent(f protocol.ServerFrame) bool {
	return f.Type == protocol.TypeMessage && f.Message != nil && f.Message.From == protocol.FromAgent
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

// ---- the browser ----

// browser is one headless Chromium with a fresh profile (its own cookies), closed with the
// test. Uncaught exceptions, console errors of the page's scripts and security errors (CSP)
// fail the test.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromium.Path()
	if path == "" {
		why, required := chromium.Missing()
		if required {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), chromium.Options(path, t.TempDir(), 1400, 900)...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx}
	if err := chromedp.Do(ctx); err != nil { // starts the browser and opens the tab
		cancel()
		acancel()
		t.Fatalf("start chromium: %v", err)
	}
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			switch {
			case m.IsException(), m.Source == "security",
				m.Type == chromedp.ConsoleError && m.Source == "" && !strings.Contains(m.Text, "WebSocket"):
				b.problem(fmt.Sprintf("%s %s: %s (%s:%d)", m.Type, m.Source, m.Text, m.URL, m.Line))
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		acancel()
		<-done
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, p := range b.problems {
			t.Errorf("browser: %s", p)
		}
	})
	return b
}

func (b *browser) problem(s string) {
	b.mu.Lock()
	b.problems = append(b.problems, s)
	b.mu.Unlock()
}

// run runs actions with a deadline.
func (b *browser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitTime)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v\npage text:\n%s", what, err, b.text())
	}
}

// text is the page's visible text, for failure messages.
func (b *browser) text() string {
	ctx, cancel := context.WithTimeout(b.ctx, 3*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	return s
}

// wait polls a JavaScript expression until it is truthy; it survives navigations and
// reloads (an evaluation that fails while the page changes is tried again).
func (b *browser) wait(what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(waitTime)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("waiting for %s (%s): timed out (last error %v)\npage text:\n%s", what, expr, last, b.text())
}

// eval evaluates a JavaScript expression.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitTime)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// login signs in through the login page: the console sends visitors without a session there.
func (b *browser) login(s *testServer, name, password string) {
	b.t.Helper()
	b.run("open the console", chromedp.Navigate(s.url()+"/console/"))
	if path := eval[string](b, `location.pathname`); path != "/console/login" {
		b.t.Fatalf("not logged in, /console/ went to %s, want /console/login", path)
	}
	// The page stays hidden (body.loading, visibility: hidden) until its text is loaded, and
	// WaitVisible does not see visibility: wait for the page itself.
	b.wait("the login page, shown", `!document.body.classList.contains("loading")`)
	b.run("log in",
		chromedp.WaitVisible(chromedp.ID("login-form")),
		chromedp.SendKeys(chromedp.ID("name"), name),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("login-submit")))
	b.waitConsole()
}

// waitConsole waits until the console is connected and shows the state.
func (b *browser) waitConsole() {
	b.t.Helper()
	b.wait("the console, connected", `location.pathname === "/console/" && document.getElementById("conn").dataset.status === "online" && !document.body.classList.contains("loading") && document.getElementById("me-name").textContent !== ""`)
}

// click clicks the element a CSS selector names, once it is visible and enabled.
func (b *browser) click(what, sel string) {
	b.t.Helper()
	b.wait(what+" enabled", `(function(){const e=document.querySelector(`+js(sel)+`); return !!e && !e.disabled && e.offsetParent !== null})()`)
	b.run("click "+what, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// keys types text into the element a CSS selector names.
func (b *browser) keys(sel, text string) {
	b.t.Helper()
	b.run("type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), text))
}

// transcript is the text of the conversation on screen, one message per line.
func (b *browser) transcript() string {
	b.t.Helper()
	return eval[string](b, `Array.from(document.querySelectorAll("#transcript li")).map(li => li.textContent).join("\n")`)
}

// queueItem is the selector of a waiting conversation in the queue.
func queueItem(id string) string { return `#queue li[data-id="` + id + `"]` }

// waitTranscript waits until the conversation on screen contains text.
func (b *browser) waitTranscript(what, text string) {
	b.t.Helper()
	b.wait(what, `Array.from(document.querySelectorAll("#transcript li")).some(li => li.textContent.includes(`+js(text)+`))`)
}

// resume reconnects a visitor's conversation on a new connection (after a restart).
func (s *testServer) resume(t *testing.T, v *visitor) *visitor {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	c, err := client.Dial(ctx, s.wsURL()+"/ws", v.sess, client.Options{})
	if err != nil {
		t.Fatalf("visitor resume: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if c.Welcome.ConversationID != v.id() || !c.Welcome.Resumed {
		t.Fatalf("resume: got conversation %s resumed %v, want %s resumed", c.Welcome.ConversationID, c.Welcome.Resumed, v.id())
	}
	return &visitor{t: t, c: c, sess: v.sess}
}
