package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/crypto/bcrypt"

	"github.com/hotline12367/hotline/client"
	"github.com/hotline12367/hotline/protocol"
	"github.com/hotline12367/hotline/store"
)

const agentPassword = "correct horse battery"

// addAgent creates an agent account in the test server's database.
func (s *testServer) addAgent(t *testing.T, id, name, role string, langs ...string) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(agentPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.CreateAgent(context.Background(), store.Agent{ID: id, Name: name, PasswordHash: string(hash),
		Langs: langs, Role: role, MaxChats: 3, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

// login logs an agent in and returns the session cookie and the CSRF token.
func (s *testServer) login(t *testing.T, name, password string) (*http.Response, string, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name, "password": password})
	resp, err := http.Post(s.ts.URL+"/console/api/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		CSRF string `json:"csrf"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	cookie := ""
	for _, c := range resp.Cookies() {
		if c.Name == "hotline_session" {
			cookie = c.Name + "=" + c.Value
		}
	}
	return resp, cookie, out.CSRF
}

type agentConn struct {
	t  *testing.T
	ws *websocket.Conn
}

func (s *testServer) dialAgent(t *testing.T, cookie, origin string) (*agentConn, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if cookie != "" {
		h.Set("Cookie", cookie)
	}
	if origin == "" {
		origin = s.ts.URL
	}
	h.Set("Origin", origin)
	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(s.ts.URL, "http")+"/agent/ws", h)
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { ws.Close() })
	return &agentConn{t: t, ws: ws}, resp, nil
}

func (a *agentConn) send(f protocol.AgentFrame) {
	a.t.Helper()
	if err := a.ws.WriteJSON(f); err != nil {
		a.t.Fatal(err)
	}
}

// until reads console frames until match returns true.
func (a *agentConn) until(what string, match func(protocol.ConsoleFrame) bool) protocol.ConsoleFrame {
	a.t.Helper()
	a.ws.SetReadDeadline(time.Now().Add(waitTime))
	defer a.ws.SetReadDeadline(time.Time{})
	var seen []string
	for {
		var f protocol.ConsoleFrame
		if err := a.ws.ReadJSON(&f); err != nil {
			a.t.Fatalf("waiting for %s: %v (saw %v)", what, err, seen)
		}
		seen = append(seen, f.Type)
		if match(f) {
			return f
		}
	}
}

func queued(id string) func(protocol.ConsoleFrame) bool {
	return func(f protocol.ConsoleFrame) bool {
		if f.Type != "state" {
			return false
		}
		for _, q := range f.State.Queue {
			if q.ConversationID == id {
				return true
			}
		}
		return false
	}
}

func TestConsoleRefusesStrangers(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	for _, tt := range []struct{ method, path string }{
		{"GET", "/console/api/me"}, {"POST", "/console/api/logout"}, {"GET", "/console/api/left-messages"},
	} {
		req, _ := http.NewRequest(tt.method, s.ts.URL+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s: got %d, want 401", tt.method, tt.path, resp.StatusCode)
		}
	}
	if _, resp, err := s.dialAgent(t, "", ""); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("agent socket without a session: got %v, want 401", resp)
	}
	if _, resp, err := s.dialAgent(t, "hotline_session=forged", ""); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("agent socket with a forged session: got %v, want 401", resp)
	}
	// A visitor connection speaks the visitor protocol only.
	v := dialRaw(t, s.wsURL(), nil)
	v.hello(protocol.ClientFrame{Type: protocol.TypeHello})
	v.writeText(`{"type":"claim","conversation_id":"x"}`)
	v.until("unknown_type", isError("unknown_type"))
}

func TestLoginSessionAndCSRF(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	s.addAgent(t, "a1", "ann", "agent", "en")
	if resp, cookie, _ := s.login(t, "ann", "wrong password!"); resp.StatusCode != http.StatusUnauthorized || cookie != "" {
		t.Fatalf("wrong password: got %d cookie %q, want 401 and none", resp.StatusCode, cookie)
	}
	resp, cookie, csrf := s.login(t, "ann", agentPassword)
	if resp.StatusCode != http.StatusOK || cookie == "" || csrf == "" {
		t.Fatalf("login: got %d cookie %q csrf %q", resp.StatusCode, cookie, csrf)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "hotline_session" && (!c.HttpOnly || c.SameSite != http.SameSiteStrictMode) {
			t.Errorf("cookie: got HttpOnly=%v SameSite=%v, want HttpOnly and Strict", c.HttpOnly, c.SameSite)
		}
	}
	post := func(csrfToken, origin string) int {
		req, _ := http.NewRequest("POST", s.ts.URL+"/console/api/logout", nil)
		req.Header.Set("Cookie", cookie)
		if csrfToken != "" {
			req.Header.Set("X-CSRF-Token", csrfToken)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post("", ""); got != http.StatusForbidden {
		t.Errorf("logout without the CSRF token: got %d, want 403", got)
	}
	if got := post(csrf, "https://evil.example"); got != http.StatusForbidden {
		t.Errorf("logout from another site: got %d, want 403", got)
	}
	if _, resp, err := s.dialAgent(t, cookie, "https://evil.example"); err == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("agent socket from another site: got %v, want 403", resp)
	}
	open, _, err := s.dialAgent(t, cookie, "")
	if err != nil {
		t.Fatalf("agent socket with the session: %v", err)
	}
	if got := post(csrf, s.ts.URL); got != http.StatusOK {
		t.Errorf("logout: got %d, want 200", got)
	}
	// The socket opened with the session ends with it.
	open.ws.SetReadDeadline(time.Now().Add(waitTime))
	for {
		var f protocol.ConsoleFrame
		err := open.ws.ReadJSON(&f)
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code != websocket.ClosePolicyViolation || ce.Text != "logged_out" {
				t.Errorf("console socket after logout: closed with %d %q, want 1008 logged_out", ce.Code, ce.Text)
			}
			break
		}
		if err != nil {
			t.Fatalf("console socket after logout: %v, want a close frame", err)
		}
	}
	if _, resp, err := s.dialAgent(t, cookie, ""); err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("agent socket after logout: got %v, want 401", resp)
	}
	// Guessing is slowed down: after 5 failures the name is refused even with the password.
	for range 5 {
		s.login(t, "ann", "guess guess guess")
	}
	if resp, _, _ := s.login(t, "ann", agentPassword); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("login after 5 failures: got %d, want 429", resp.StatusCode)
	}
}

func TestHandoffToAgentAndBack(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	s.addAgent(t, "a1", "ann", "agent", "en", "zh")
	_, cookie, _ := s.login(t, "ann", agentPassword)
	agent, _, err := s.dialAgent(t, cookie, "")
	if err != nil {
		t.Fatal(err)
	}
	agent.until("first state", func(f protocol.ConsoleFrame) bool { return f.Type == "state" })

	sess := &client.Session{Lang: "en"}
	v := s.dial(t, sess, nil)
	_, ans := ask(t, v, "q1", "Can you book me a hotel room in Shanghai for tonight?")
	if !ans.Message.Answer.Handoff {
		t.Fatalf("answer: got %+v, want a handoff", ans.Message.Answer)
	}
	ev, _ := next(t, v, "queued", isEvent(protocol.EventQueued))
	if ev.Message.Position != 1 {
		t.Errorf("queued position: got %d, want 1", ev.Message.Position)
	}
	agent.until("the conversation in the queue", queued(sess.ConversationID))
	agent.send(protocol.AgentFrame{Type: protocol.AgentClaim, ConversationID: sess.ConversationID})
	h := agent.until("history", func(f protocol.ConsoleFrame) bool { return f.Type == "history" })
	var sawQuestion, sawBot bool
	for _, m := range h.Messages {
		sawQuestion = sawQuestion || m.From == "visitor" && strings.Contains(m.Text, "hotel")
		sawBot = sawBot || m.From == "bot" && m.Answer != nil && m.Answer.Handoff
	}
	if !sawQuestion || !sawBot {
		t.Errorf("history: got %+v, want the question and the bot's handoff", h.Messages)
	}
	joined, _ := next(t, v, "agent joined", isEvent(protocol.EventAgentJoined))
	if joined.Message.Agent != "ann" {
		t.Errorf("agent joined: got %q, want ann", joined.Message.Agent)
	}
	agent.send(protocol.AgentFrame{Type: protocol.AgentReply, ConversationID: sess.ConversationID, ID: "r1", Text: "I cannot book hotels, but here is how."})
	agent.until("ack", func(f protocol.ConsoleFrame) bool { return f.Type == "ack" && f.ID == "r1" })
	m, _ := next(t, v, "agent message", func(f protocol.ServerFrame) bool {
		return f.Type == protocol.TypeMessage && f.Message.From == protocol.FromAgent
	})
	if m.Message.Text != "I cannot book hotels, but here is how." {
		t.Errorf("agent message: got %q", m.Message.Text)
	}
	// While an agent has it, the bot stays quiet.
	if err := v.Send("q2", "thanks, and what is the five-star card?"); err != nil {
		t.Fatal(err)
	}
	agent.until("the visitor's message", func(f protocol.ConsoleFrame) bool {
		return f.Type == "message" && f.Message != nil && f.Message.ClientID == "q2"
	})
	agent.send(protocol.AgentFrame{Type: protocol.AgentHandback, ConversationID: sess.ConversationID})
	next(t, v, "agent left", isEvent(protocol.EventAgentLeft))
	_, ans = ask(t, v, "q3", "What is the five-star card?")
	if ans.Message.Answer.Handoff || !strings.HasPrefix(ans.Message.Answer.FAQID, "five-star-card") {
		t.Errorf("after handback: got %+v, want the bot's answer about the five-star card", ans.Message.Answer)
	}
}

func TestSuggestedAnswerInTheVisitorsLanguage(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	s.addAgent(t, "a1", "ann", "agent", "en")
	_, cookie, _ := s.login(t, "ann", agentPassword)
	agent, _, err := s.dialAgent(t, cookie, "")
	if err != nil {
		t.Fatal(err)
	}
	sess := &client.Session{Lang: "ar"}
	v := s.dial(t, sess, nil)
	ask(t, v, "q1", "ما هي بطاقة النجوم الخمس؟")
	if err := v.Write(protocol.ClientFrame{Type: protocol.TypeHandoff}); err != nil {
		t.Fatal(err)
	}
	agent.until("queued", queued(sess.ConversationID))
	agent.send(protocol.AgentFrame{Type: protocol.AgentClaim, ConversationID: sess.ConversationID})
	agent.until("history", func(f protocol.ConsoleFrame) bool { return f.Type == "history" })
	agent.send(protocol.AgentFrame{Type: protocol.AgentSuggest, ConversationID: sess.ConversationID, Lang: "en"})
	sg := agent.until("suggestions", func(f protocol.ConsoleFrame) bool { return f.Type == "suggestions" })
	if len(sg.Suggestions) == 0 {
		t.Fatal("no suggestions")
	}
	opt := sg.Suggestions[0]
	if opt.Answer != answerText(t, opt.FAQID, "en") || opt.VisitorText != answerText(t, opt.FAQID, "ar") {
		t.Errorf("suggestion: got %+v, want the English answer to read and the Arabic one to send", opt)
	}
	agent.send(protocol.AgentFrame{Type: protocol.AgentSendFAQ, ConversationID: sess.ConversationID, ID: "s1", FAQID: opt.FAQID})
	m, _ := next(t, v, "the agent's answer", func(f protocol.ServerFrame) bool {
		return f.Type == protocol.TypeMessage && f.Message.From == protocol.FromAgent
	})
	if m.Message.Text != answerText(t, opt.FAQID, "ar") || m.Message.Lang != "ar" || m.Message.Answer.FAQID != opt.FAQID {
		t.Errorf("visitor got %q (%s), want the Arabic answer of %s", m.Message.Text, m.Message.Lang, opt.FAQID)
	}
}

// The queue and every assignment survive a restart; an agent who does not come back loses
// their conversations to the front of the queue after the grace period (controlled clock).
func TestQueueSurvivesRestartAndDroppedAgents(t *testing.T) {
	clk := newClock()
	cfg := testConfig()
	cfg.AgentGrace = time.Minute
	s := startServer(t, cfg, clk.Now)
	s.addAgent(t, "a1", "ann", "agent", "en")
	s.addAgent(t, "s1", "sue", "supervisor", "en")
	var sess [3]*client.Session
	var conns [3]*client.Conn
	for i := range sess {
		sess[i] = &client.Session{Lang: "en"}
		conns[i] = s.dial(t, sess[i], nil)
		if err := conns[i].Write(protocol.ClientFrame{Type: protocol.TypeHandoff}); err != nil {
			t.Fatal(err)
		}
		next(t, conns[i], "queued", isEvent(protocol.EventQueued))
		clk.Advance(time.Second)
	}
	_, cookie, _ := s.login(t, "ann", agentPassword)
	agent, _, err := s.dialAgent(t, cookie, "")
	if err != nil {
		t.Fatal(err)
	}
	agent.until("queue", queued(sess[2].ConversationID))
	agent.send(protocol.AgentFrame{Type: protocol.AgentNext})
	agent.until("history of the first", func(f protocol.ConsoleFrame) bool {
		return f.Type == "history" && f.ConversationID == sess[0].ConversationID
	})
	agent.ws.Close()
	for _, c := range conns {
		c.Close()
	}
	s.restart()
	_, cookie, _ = s.login(t, "ann", agentPassword)
	agent, _, err = s.dialAgent(t, cookie, "")
	if err != nil {
		t.Fatal(err)
	}
	st := agent.until("state after restart", func(f protocol.ConsoleFrame) bool { return f.Type == "state" }).State
	if len(st.Mine) != 1 || st.Mine[0].ID != sess[0].ConversationID {
		t.Errorf("mine after restart: got %+v, want %s", st.Mine, sess[0].ConversationID)
	}
	if len(st.Queue) != 2 || st.Queue[0].ConversationID != sess[1].ConversationID || st.Queue[1].ConversationID != sess[2].ConversationID {
		t.Errorf("queue after restart: got %+v, want %s then %s", st.Queue, sess[1].ConversationID, sess[2].ConversationID)
	}
	// The agent drops; within the grace period nothing moves, after it the conversation goes
	// back to the front.
	v := s.dial(t, sess[0], nil)
	_, supCookie, _ := s.login(t, "sue", agentPassword)
	sup, _, err := s.dialAgent(t, supCookie, "")
	if err != nil {
		t.Fatal(err)
	}
	agent.ws.Close()
	offline := func(f protocol.ConsoleFrame) bool {
		if f.Type != "state" {
			return false
		}
		for _, a := range f.State.Agents {
			if a.Name == "ann" && a.Status == "offline" {
				return true
			}
		}
		return false
	}
	sup.until("ann offline", offline)
	// (queue.TestDroppedAgentsConversationsGoBackToTheFront checks the grace period itself.)
	clk.Advance(61 * time.Second)
	s.srv.MaintainForTest(context.Background())
	next(t, v, "agent left", isEvent(protocol.EventAgentLeft))
	ev, _ := next(t, v, "queued again", isEvent(protocol.EventQueued))
	if ev.Message.Position != 1 {
		t.Errorf("position after the agent dropped: got %d, want 1 (front)", ev.Message.Position)
	}
}
