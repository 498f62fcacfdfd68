// Package wechattest provides a local fake of WeChat's server API and a
// builder of signed message pushes, for testing code that uses package
// wechat without reaching WeChat.
package wechattest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hotline12367/hotline/wechat"
)

// FakeConfig configures a [Fake]. Zero fields take the defaults shown.
type FakeConfig struct {
	// AppID and Secret the token endpoint accepts ("wxfake", "fakesecret").
	AppID, Secret string
	// ExpiresIn is the lifetime of each access token (7200 s).
	ExpiresIn time.Duration
	// Window is how long after a user's message the mini-program may send
	// to them (48 h); later sends get 45015.
	Window time.Duration
	// Quota is the number of messages allowed per user message (5); more
	// get 45047.
	Quota int
	// MaxTextBytes is the longest text content accepted (2048 bytes);
	// longer gets 45002.
	MaxTextBytes int
	// Now is the Fake's clock (time.Now). Tests share one fake clock between
	// the Fake and the client under test.
	Now func() time.Time
}

// SentMessage is one request the Fake received on the custom-send endpoint.
type SentMessage struct {
	ToUser  string // touser, an openid
	MsgType string // msgtype
	Content string // text.content, for MsgType "text"
	Token   string // the access_token it came with
	ErrCode int    // what the Fake answered: 0 if it accepted the message
	Body    []byte // the request body as received
}

// TypingCommand is one request the Fake received on the typing endpoint.
type TypingCommand struct {
	ToUser  string // touser
	Command string // "Typing" or "CancelTyping"
	ErrCode int    // what the Fake answered
}

// Fake is a local stand-in for WeChat's server API (api.weixin.qq.com) on a
// loopback httptest.Server, speaking its wire format:
//
//   - GET /cgi-bin/token issues access tokens; issuing one leaves older
//     tokens valid for 5 more minutes, as WeChat does;
//   - POST /cgi-bin/message/custom/send accepts text messages, enforcing the
//     token (40001), the 48-hour window (45015), the reply quota (45047) and
//     the length limit (45002), and records them;
//   - POST /cgi-bin/message/custom/typing (and /custom/business/typing)
//     records typing commands, enforcing the token and the window.
//
// All methods are safe for concurrent use. Create one with [NewFake] and
// Close it when done.
type Fake struct {
	srv *httptest.Server
	cfg FakeConfig

	mu            sync.Mutex
	changed       chan struct{}        // closed and replaced whenever sent grows
	tokens        map[string]time.Time // token -> expiry
	tokenRequests int
	lastMessage   map[string]time.Time // openid -> when the user last wrote
	used          map[string]int       // openid -> messages sent since then
	failN         int
	failCode      int
	attempts      []SentMessage
	typing        []TypingCommand
}

// NewFake starts a Fake configured by cfg.
func NewFake(cfg FakeConfig) *Fake {
	if cfg.AppID == "" {
		cfg.AppID = "wxfake"
	}
	if cfg.Secret == "" {
		cfg.Secret = "fakesecret"
	}
	if cfg.ExpiresIn <= 0 {
		cfg.ExpiresIn = 7200 * time.Second
	}
	if cfg.Window <= 0 {
		cfg.Window = 48 * time.Hour
	}
	if cfg.Quota <= 0 {
		cfg.Quota = 5
	}
	if cfg.MaxTextBytes <= 0 {
		cfg.MaxTextBytes = wechat.MaxTextBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	f := &Fake{
		cfg:         cfg,
		changed:     make(chan struct{}),
		tokens:      make(map[string]time.Time),
		lastMessage: make(map[string]time.Time),
		used:        make(map[string]int),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cgi-bin/token", f.serveToken)
	mux.HandleFunc("POST /cgi-bin/message/custom/send", f.serveSend)
	mux.HandleFunc("POST /cgi-bin/message/custom/typing", f.serveTyping)
	mux.HandleFunc("POST /cgi-bin/message/custom/business/typing", f.serveTyping)
	f.srv = httptest.NewServer(mux)
	return f
}

// URL returns the Fake's base URL, to use as the API of a wechat.Client.
func (f *Fake) URL() string { return f.srv.URL }

// Client returns an http.Client for the Fake's server.
func (f *Fake) Client() *http.Client { return f.srv.Client() }

// Close shuts the Fake's server down, waiting for requests in progress.
func (f *Fake) Close() { f.srv.Close() }

// ExpireTokens makes every token issued so far invalid at once: later calls
// with them get 40001, as after a token was reset in the console.
func (f *Fake) ExpireTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.tokens)
}

// TokenRequests returns how many tokens the Fake has issued.
func (f *Fake) TokenRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenRequests
}

// UserMessaged records that openID wrote to the mini-program at at: it opens
// the 48-hour window from at and resets the user's reply quota.
func (f *Fake) UserMessaged(openID string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastMessage[openID] = at
	f.used[openID] = 0
}

// FailNext makes the next n sends (custom-send requests, whatever their
// token) fail with errcode, e.g. -1 or 45009 to exercise retries, or 40001 to
// reject a fresh token too. Failed sends are recorded in Attempts.
func (f *Fake) FailNext(n, errcode int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failN, f.failCode = n, errcode
}

// Sent returns the messages the Fake accepted, in order.
func (f *Fake) Sent() []SentMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sentLocked()
}

func (f *Fake) sentLocked() []SentMessage {
	var out []SentMessage
	for _, m := range f.attempts {
		if m.ErrCode == 0 {
			out = append(out, m)
		}
	}
	return out
}

// Attempts returns every custom-send request the Fake received, accepted or
// not, in order; ErrCode says what it answered.
func (f *Fake) Attempts() []SentMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]SentMessage(nil), f.attempts...)
}

// Typing returns the typing commands the Fake received, in order.
func (f *Fake) Typing() []TypingCommand {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]TypingCommand(nil), f.typing...)
}

// ErrTimeout is returned by WaitSent when too few messages arrived in time.
var ErrTimeout = errors.New("wechattest: timed out waiting for messages")

// WaitSent waits until the Fake has accepted at least n messages and
// returns them all, or returns what it has and an error wrapping ErrTimeout
// after timeout. It wakes on each accepted message; it does not poll.
func (f *Fake) WaitSent(n int, timeout time.Duration) ([]SentMessage, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		f.mu.Lock()
		sent, changed := f.sentLocked(), f.changed
		f.mu.Unlock()
		if len(sent) >= n {
			return sent, nil
		}
		select {
		case <-changed:
		case <-timer.C:
			return sent, fmt.Errorf("%w: got %d of %d after %v", ErrTimeout, len(sent), n, timeout)
		}
	}
}

func (f *Fake) serveToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case q.Get("grant_type") != "client_credential":
		writeErr(w, 40002, "invalid grant_type")
		return
	case q.Get("appid") != f.cfg.AppID:
		writeErr(w, 40013, "invalid appid")
		return
	case q.Get("secret") != f.cfg.Secret:
		writeErr(w, 40125, "invalid appsecret")
		return
	}
	b := make([]byte, 16)
	rand.Read(b)
	tok := "fake_" + hex.EncodeToString(b)

	f.mu.Lock()
	now := f.cfg.Now()
	grace := now.Add(5 * time.Minute)
	for t, exp := range f.tokens {
		if exp.After(grace) {
			f.tokens[t] = grace
		}
	}
	f.tokens[tok] = now.Add(f.cfg.ExpiresIn)
	f.tokenRequests++
	f.mu.Unlock()

	writeJSON(w, map[string]any{"access_token": tok, "expires_in": int64(f.cfg.ExpiresIn / time.Second)})
}

// checkTokenLocked returns 0 if the request's access_token is valid now, or
// the errcode WeChat would answer.
func (f *Fake) checkTokenLocked(r *http.Request) int {
	tok := r.URL.Query().Get("access_token")
	if tok == "" {
		return 41001 // access_token missing
	}
	exp, ok := f.tokens[tok]
	if !ok {
		return 40001
	}
	if !f.cfg.Now().Before(exp) {
		return 42001
	}
	return 0
}

// checkWindowLocked returns 0 if openID wrote within the window, else 45015.
func (f *Fake) checkWindowLocked(openID string) int {
	at, ok := f.lastMessage[openID]
	if !ok || f.cfg.Now().Sub(at) > f.cfg.Window {
		return 45015
	}
	return 0
}

func (f *Fake) serveSend(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		writeErr(w, 44002, "empty post data")
		return
	}
	var req struct {
		ToUser  string `json:"touser"`
		MsgType string `json:"msgtype"`
		Text    *struct {
			Content string `json:"content"`
		} `json:"text"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeErr(w, 47001, "data format error")
		return
	}
	m := SentMessage{ToUser: req.ToUser, MsgType: req.MsgType, Token: r.URL.Query().Get("access_token"), Body: body}
	if req.Text != nil {
		m.Content = req.Text.Content
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	code := 0
	switch {
	case f.failN > 0:
		f.failN--
		code = f.failCode
	default:
		code = f.checkTokenLocked(r)
	}
	if code == 0 {
		switch {
		case req.ToUser == "":
			code = 40003 // invalid openid
		case req.MsgType != "text" || req.Text == nil:
			code = 40008 // invalid message type (the Fake speaks text only)
		case req.Text.Content == "":
			code = 44003 // empty news data
		case len(req.Text.Content) > f.cfg.MaxTextBytes || !utf8.ValidString(req.Text.Content):
			code = 45002 // content size out of limit
		default:
			code = f.checkWindowLocked(req.ToUser)
		}
	}
	if code == 0 && f.used[req.ToUser] >= f.cfg.Quota {
		code = 45047
	}
	if code == 0 {
		f.used[req.ToUser]++
	}
	m.ErrCode = code
	f.attempts = append(f.attempts, m)
	if code == 0 {
		close(f.changed)
		f.changed = make(chan struct{})
	}
	writeErr(w, code, errMsg(code))
}

func (f *Fake) serveTyping(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		writeErr(w, 44002, "empty post data")
		return
	}
	var req struct {
		ToUser  string `json:"touser"`
		Command string `json:"command"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeErr(w, 47001, "data format error")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	code := f.checkTokenLocked(r)
	if code == 0 && req.Command != "Typing" && req.Command != "CancelTyping" {
		code = 40002 // the Fake's stand-in for "invalid command"
	}
	if code == 0 {
		code = f.checkWindowLocked(req.ToUser)
	}
	f.typing = append(f.typing, TypingCommand{ToUser: req.ToUser, Command: req.Command, ErrCode: code})
	writeErr(w, code, errMsg(code))
}

func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil && len(body) == 0 {
		err = errors.New("empty body")
	}
	return body, err
}

func errMsg(code int) string {
	switch code {
	case 0:
		return "ok"
	case -1:
		return "system error"
	case 40001:
		return "invalid credential, access_token is invalid or not latest"
	case 42001:
		return "access_token expired"
	case 45002:
		return "content size out of limit"
	case 45009:
		return "reach max api daily quota limit"
	case 45015:
		return "response out of time limit or subscription is canceled"
	case 45047:
		return "out of response count limit"
	}
	return "fake error"
}

func writeErr(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, map[string]any{"errcode": code, "errmsg": msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
