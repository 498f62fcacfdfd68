package console_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hotline12367/hotline/protocol"
	"github.com/hotline12367/hotline/web/console"
)

// noRedirect is an HTTP client that shows redirects instead of following them.
var noRedirect = &http.Client{
	Timeout:       waitTime,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func do(t *testing.T, method, url string, header http.Header, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	resp.Body.Close()
	return resp
}

// apiLogin signs in as a program would and returns the session cookie and the CSRF token.
func apiLogin(t *testing.T, s *testServer, name, password string) (*http.Cookie, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name, "password": password})
	resp, err := noRedirect.Post(s.url()+"/console/api/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		CSRF string `json:"csrf"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.CSRF == "" {
		t.Fatalf("login: got %d (%v), want 200 with a csrf token", resp.StatusCode, err)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "hotline_session" {
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
				t.Errorf("session cookie: got HttpOnly %v SameSite %v, want HttpOnly and Strict", c.HttpOnly, c.SameSite)
			}
			return c, out.CSRF
		}
	}
	t.Fatal("login: no session cookie")
	return nil, ""
}

func cookieHeader(c *http.Cookie, kv ...string) http.Header {
	h := http.Header{}
	if c != nil {
		h.Set("Cookie", c.Name+"="+c.Value)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// dialAgent opens GET /agent/ws and returns the connection (nil when refused) and the status.
func dialAgent(t *testing.T, s *testServer, h http.Header) (*websocket.Conn, int) {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(s.wsURL()+"/agent/ws", h)
	if resp == nil {
		t.Fatalf("dial /agent/ws: %v", err)
	}
	resp.Body.Close()
	if err == nil {
		t.Cleanup(func() { ws.Close() })
	}
	return ws, resp.StatusCode
}

func TestSecurity(t *testing.T) {
	s := startServer(t)
	const pw = "correct horse battery"
	s.addAgent("Wang Li", pw, "agent", "en")

	t.Run("not logged in", func(t *testing.T) {
		resp := do(t, "GET", s.url()+"/console/", nil, nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/login" {
			t.Errorf("GET /console/: got %d to %q, want 303 to /console/login", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp = do(t, "GET", s.url()+"/console/login", nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /console/login: got %d, want 200", resp.StatusCode)
		}
		for _, tt := range []struct{ method, path string }{
			{"GET", "/console/api/me"},
			{"GET", "/console/api/left-messages"},
			{"POST", "/console/api/logout"},
		} {
			if resp := do(t, tt.method, s.url()+tt.path, nil, nil); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s: got %d, want 401", tt.method, tt.path, resp.StatusCode)
			}
		}
		if _, code := dialAgent(t, s, nil); code != http.StatusUnauthorized {
			t.Errorf("GET /agent/ws: got %d, want 401", code)
		}
		// A made-up cookie is no session either.
		fake := &http.Cookie{Name: "hotline_session", Value: strings.Repeat("A", 52)}
		if _, code := dialAgent(t, s, cookieHeader(fake)); code != http.StatusUnauthorized {
			t.Errorf("GET /agent/ws with a made-up cookie: got %d, want 401", code)
		}
		if resp := do(t, "GET", s.url()+"/console/", cookieHeader(fake), nil); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("GET /console/ with a made-up cookie: got %d, want 303", resp.StatusCode)
		}
	})

	t.Run("pages and assets", func(t *testing.T) {
		cookie, _ := apiLogin(t, s, "Wang Li", pw)
		for _, tt := range []struct {
			path  string
			h     http.Header
			ctype string
			page  bool
		}{
			{"/console/login", nil, "text/html", true},
			{"/console/", cookieHeader(cookie), "text/html", true},
			{"/console/assets/app.js", nil, "text/javascript", false},
			{"/console/assets/i18n.js", nil, "text/javascript", false},
			{"/console/assets/login.js", nil, "text/javascript", false},
			{"/console/assets/console.css", nil, "text/css", false},
		} {
			resp := do(t, "GET", s.url()+tt.path, tt.h, nil)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.ctype) {
				t.Errorf("GET %s: got %d %q, want 200 %s", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), tt.ctype)
			}
			if got := resp.Header.Get("Content-Security-Policy"); tt.page && got != console.CSP {
				t.Errorf("GET %s: CSP %q, want %q", tt.path, got, console.CSP)
			}
			if tt.page && resp.Header.Get("X-Frame-Options") != "DENY" {
				t.Errorf("GET %s: X-Frame-Options %q, want DENY", tt.path, resp.Header.Get("X-Frame-Options"))
			}
		}
		for _, tt := range []struct {
			method, path string
			want         int
		}{
			{"GET", "/console/assets/nope.js", http.StatusNotFound},
			{"GET", "/console/app.html", http.StatusNotFound},
			{"GET", "/console/other", http.StatusNotFound},
			{"POST", "/console/login", http.StatusMethodNotAllowed},
		} {
			if resp := do(t, tt.method, s.url()+tt.path, nil, nil); resp.StatusCode != tt.want {
				t.Errorf("%s %s: got %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
			}
		}
		// The mux sends these elsewhere (cleaned paths); the redirect must not serve a page.
		for path, want := range map[string]string{"/console": "/console/", "/console/assets/../app.html": "/console/app.html"} {
			resp := do(t, "GET", s.url()+path, nil, nil)
			if resp.StatusCode/100 != 3 || resp.Header.Get("Location") != want {
				t.Errorf("GET %s: got %d to %q, want a redirect to %s", path, resp.StatusCode, resp.Header.Get("Location"), want)
			}
		}
	})

	t.Run("forged requests", func(t *testing.T) {
		cookie, csrf := apiLogin(t, s, "Wang Li", pw)
		if resp := do(t, "GET", s.url()+"/console/api/me", cookieHeader(cookie), nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /console/api/me with the cookie: got %d, want 200", resp.StatusCode)
		}
		for _, tt := range []struct {
			name string
			h    http.Header
		}{
			{"no token", cookieHeader(cookie)},
			{"wrong token", cookieHeader(cookie, "X-CSRF-Token", "AAAA")},
			{"foreign origin", cookieHeader(cookie, "X-CSRF-Token", csrf, "Origin", "https://evil.example")},
		} {
			if resp := do(t, "POST", s.url()+"/console/api/logout", tt.h, nil); resp.StatusCode != http.StatusForbidden {
				t.Errorf("logout, %s: got %d, want 403", tt.name, resp.StatusCode)
			}
		}
		if _, code := dialAgent(t, s, cookieHeader(cookie, "Origin", "https://evil.example")); code != http.StatusForbidden {
			t.Errorf("GET /agent/ws from https://evil.example: got %d, want 403", code)
		}
		ws, code := dialAgent(t, s, cookieHeader(cookie, "Origin", s.url()))
		if code != http.StatusSwitchingProtocols {
			t.Fatalf("GET /agent/ws from the console's origin: got %d, want 101", code)
		}
		ws.Close()
		// The session still works (nothing above logged it out); a real logout ends it.
		if resp := do(t, "POST", s.url()+"/console/api/logout", cookieHeader(cookie, "X-CSRF-Token", csrf, "Origin", s.url()), nil); resp.StatusCode != http.StatusOK {
			t.Errorf("logout with the token: got %d, want 200", resp.StatusCode)
		}
		if resp := do(t, "GET", s.url()+"/console/api/me", cookieHeader(cookie), nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /console/api/me after logout: got %d, want 401", resp.StatusCode)
		}
		if _, code := dialAgent(t, s, cookieHeader(cookie)); code != http.StatusUnauthorized {
			t.Errorf("GET /agent/ws after logout: got %d, want 401", code)
		}
	})

	t.Run("visitors cannot act as agents", func(t *testing.T) {
		v := s.visitor(t, "en")
		v.ask("q1", "Can you book me a hotel in Shanghai?")
		v.next("queued", isEvent(protocol.EventQueued))
		// A stranger's connection, and one resuming the visitor's own conversation.
		for _, resume := range []string{"", v.sess.ResumeToken} {
			ws, resp, err := websocket.DefaultDialer.Dial(s.wsURL()+"/ws", nil)
			if err != nil {
				t.Fatalf("dial /ws: %v", err)
			}
			resp.Body.Close()
			defer ws.Close()
			ws.SetReadDeadline(time.Now().Add(waitTime))
			read := func(match func(protocol.ServerFrame) bool) protocol.ServerFrame {
				for {
					var f protocol.ServerFrame
					if err := ws.ReadJSON(&f); err != nil {
						t.Fatalf("visitor connection: %v", err)
					}
					if match(f) {
						return f
					}
				}
			}
			hello, _ := json.Marshal(protocol.ClientFrame{Type: protocol.TypeHello, ResumeToken: resume})
			ws.WriteMessage(websocket.TextMessage, hello)
			if w := read(func(f protocol.ServerFrame) bool { return f.Type == protocol.TypeWelcome }); resume != "" && w.ConversationID != v.id() {
				t.Fatalf("resume: got conversation %s, want %s", w.ConversationID, v.id())
			}
			for _, frame := range []string{
				`{"type":"claim","conversation_id":"` + v.id() + `"}`,
				`{"type":"next"}`,
				`{"type":"open","conversation_id":"` + v.id() + `"}`,
				`{"type":"reply","conversation_id":"` + v.id() + `","id":"x1","text":"pwned"}`,
				`{"type":"send_faq","conversation_id":"` + v.id() + `","id":"x2","faq_id":"transit-144h"}`,
				`{"type":"handback","conversation_id":"` + v.id() + `"}`,
				`{"type":"presence","status":"online"}`,
			} {
				ws.WriteMessage(websocket.TextMessage, []byte(frame))
				f := read(func(f protocol.ServerFrame) bool { return f.Type == protocol.TypeError })
				if f.Error == nil || f.Error.Code != "unknown_type" {
					t.Errorf("visitor sent %s: got %+v, want unknown_type", frame, f.Error)
				}
			}
		}
		// Still waiting, in no agent's hands.
		cookie, _ := apiLogin(t, s, "Wang Li", pw)
		ws, _ := dialAgent(t, s, cookieHeader(cookie))
		ws.SetReadDeadline(time.Now().Add(waitTime))
		for {
			var f protocol.ConsoleFrame
			if err := ws.ReadJSON(&f); err != nil {
				t.Fatalf("console: %v", err)
			}
			if f.Type != "state" {
				continue
			}
			if !slices.ContainsFunc(f.State.Queue, func(q protocol.QueueItem) bool { return q.ConversationID == v.id() }) {
				t.Errorf("queue %+v: want %s still waiting", f.State.Queue, v.id())
			}
			break
		}
	})

	t.Run("visitor text is shown as text", func(t *testing.T) {
		const evil = `<img src=x onerror="window.__pwned=1"> Can you book me a hotel in Shanghai?`
		v := s.visitor(t, "en")
		if ans := v.ask("q1", evil); ans.Answer == nil || !ans.Answer.Handoff {
			t.Fatalf("got answer %+v, want a handoff", ans.Answer)
		}
		v.next("queued", isEvent(protocol.EventQueued))
		left := s.visitor(t, "en")
		const evilLeft, evilContact = `<script>window.__pwned=2</script>call me`, `<svg onload="window.__pwned=3">`
		if err := left.c.Write(protocol.ClientFrame{Type: protocol.TypeLeaveMessage, Text: evilLeft, Contact: evilContact}); err != nil {
			t.Fatal(err)
		}
		left.next("message left", isEvent(protocol.EventMessageLeft))

		b := newBrowser(t)
		b.login(s, "Wang Li", pw)
		b.wait("the conversation in the queue", `!!document.querySelector(`+js(queueItem(v.id()))+`)`)
		if got := eval[string](b, `document.querySelector(`+js(queueItem(v.id())+" .question")+`).textContent`); got != evil {
			t.Errorf("queue question: got %q, want the text as sent %q", got, evil)
		}
		b.wait("the left message", `Array.from(document.querySelectorAll("#left li")).some(li => li.textContent.includes(`+js(evilLeft)+`) && li.textContent.includes(`+js(evilContact)+`))`)
		b.click("claim", queueItem(v.id())+" button.claim")
		b.waitTranscript("the visitor's message", evil)
		v.say("m1", `<b id="injected">bold?</b>`)
		b.waitTranscript("the second message", `<b id="injected">bold?</b>`)
		if got := eval[string](b, `String(window.__pwned)`); got != "undefined" {
			t.Errorf("window.__pwned: got %s, want undefined (a visitor's text ran)", got)
		}
		if n := eval[int](b, `document.querySelectorAll("img, svg, script:not([src]), b#injected").length`); n != 0 {
			t.Errorf("got %d elements made from visitor text, want 0", n)
		}
	})
}
