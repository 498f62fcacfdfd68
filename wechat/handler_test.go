package wechat_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hotline12367/hotline/wechat"
	"github.com/hotline12367/hotline/wechat/wechattest"
)

// The vectors of WeChat's message-push documentation, from
// /work/shared/wechat/test-vectors.md.
const (
	vecToken       = "AAAAA"
	vecAESKey      = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	vecAppID       = "wxba5fad812f8e6fb9"
	vecSafeEncrypt = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04="
)

// deliveryTimeout bounds every wait for a delivery; a passing test never
// waits for it.
const deliveryTimeout = 10 * time.Second

// recorder collects what a Handler delivers.
type recorder struct{ ch chan wechat.Message }

func newRecorder() *recorder { return &recorder{ch: make(chan wechat.Message, 100)} }

func (r *recorder) deliver(_ context.Context, m wechat.Message) { r.ch <- m }

// wait returns the next n deliveries, failing the test if they do not come.
func (r *recorder) wait(t *testing.T, n int) []wechat.Message {
	t.Helper()
	timeout := time.NewTimer(deliveryTimeout)
	defer timeout.Stop()
	var got []wechat.Message
	for len(got) < n {
		select {
		case m := <-r.ch:
			got = append(got, m)
		case <-timeout.C:
			t.Fatalf("got %d deliveries, want %d", len(got), n)
		}
	}
	return got
}

// none fails the test if anything was delivered and not yet waited for.
// Call it after a barrier delivery from the same user, which is delivered
// after everything the user sent before it.
func (r *recorder) none(t *testing.T) {
	t.Helper()
	select {
	case m := <-r.ch:
		t.Fatalf("got an extra delivery %+v, want none", m)
	default:
	}
}

type server struct {
	h   *wechat.Handler
	srv *httptest.Server
	rec *recorder
}

// newServer serves a Handler configured by cfg (with its Deliver replaced by
// a recorder) on a loopback httptest.Server, closed with the test.
func newServer(t *testing.T, cfg wechat.HandlerConfig) *server {
	t.Helper()
	rec := newRecorder()
	if cfg.Deliver == nil {
		cfg.Deliver = rec.deliver
	}
	h, err := wechat.NewHandler(cfg)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/wechat/callback", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		h.Close()
	})
	return &server{h: h, srv: srv, rec: rec}
}

// push returns a Push signing as cfg and aimed at s.
func (s *server) push(cfg wechat.HandlerConfig) wechattest.Push {
	return wechattest.Push{Token: cfg.Token, AESKey: cfg.AESKey, AppID: cfg.AppID, URL: s.srv.URL + "/wechat/callback"}
}

// do sends r to s and returns the status and body.
func (s *server) do(t *testing.T, r *http.Request) (int, string) {
	t.Helper()
	resp, err := s.srv.Client().Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// raw builds a request to s with the given query and body.
func (s *server) raw(t *testing.T, method, query, body, ctype string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, s.srv.URL+"/wechat/callback?"+query, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	return r
}

var (
	plainCfg = wechat.HandlerConfig{Token: vecToken}
	safeCfg  = wechat.HandlerConfig{Token: vecToken, AESKey: vecAESKey, AppID: vecAppID}
)

func textMessage(from, id, content string) wechat.Message {
	return wechat.Message{
		ToUserName:   "gh_97417a04a28d",
		FromUserName: from,
		CreateTime:   1714112445,
		MsgType:      wechat.MsgTypeText,
		Content:      content,
		MsgID:        id,
	}
}

func TestURLVerification(t *testing.T) {
	s := newServer(t, plainCfg)
	const good = "signature=f464b24fc39322e44b38aa78f5edd27bd1441696&echostr=4375120948345356249&timestamp=1714036504&nonce=1514711492"
	tests := []struct {
		name       string
		query      string
		wantStatus int
		wantBody   string
	}{
		{"vector", good, http.StatusOK, "4375120948345356249"},
		{"wrong signature", strings.Replace(good, "f464", "f465", 1), http.StatusForbidden, ""},
		{"other timestamp", strings.Replace(good, "1714036504", "1714036505", 1), http.StatusForbidden, ""},
		{"no signature", "echostr=4375120948345356249&timestamp=1714036504&nonce=1514711492", http.StatusForbidden, ""},
		{"nothing", "", http.StatusForbidden, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := s.do(t, s.raw(t, http.MethodGet, tt.query, "", ""))
			if status != tt.wantStatus {
				t.Fatalf("got status %d, want %d", status, tt.wantStatus)
			}
			if tt.wantStatus == http.StatusOK && body != tt.wantBody {
				t.Errorf("got body %q, want %q", body, tt.wantBody)
			}
			if tt.wantStatus != http.StatusOK && strings.Contains(body, "4375120948345356249") {
				t.Errorf("got echostr echoed on a refused verification: %q", body)
			}
		})
	}
	// The helper's verification request passes too.
	p := s.push(plainCfg)
	if status, body := s.do(t, p.Verification("hello")); status != http.StatusOK || body != "hello" {
		t.Errorf("wechattest verification: got %d %q, want 200 \"hello\"", status, body)
	}
}

func TestPushVectors(t *testing.T) {
	t.Run("safe mode json", func(t *testing.T) {
		s := newServer(t, safeCfg)
		q := "signature=6c5c811b55cc85e0e1b54100749188c20beb3f5d&timestamp=1714112445&nonce=415670741&openid=o9AgO5Kd5ggOC-bXrbNODIiE3bGY&encrypt_type=aes&msg_signature=046e02f8204d34f8ba5fa3b1db94908f3df2e9b3"
		body := `{"ToUserName":"gh_97417a04a28d","Encrypt":"` + vecSafeEncrypt + `"}`
		status, reply := s.do(t, s.raw(t, http.MethodPost, q, body, "application/json"))
		if status != http.StatusOK || reply != "success" {
			t.Fatalf("got %d %q, want 200 \"success\"", status, reply)
		}
		got := s.rec.wait(t, 1)[0]
		want := wechat.Message{ToUserName: "gh_97417a04a28d", FromUserName: "o9AgO5Kd5ggOC-bXrbNODIiE3bGY", CreateTime: 1714112445, MsgType: "event", Event: "debug_demo"}
		if got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
	t.Run("plain mode xml", func(t *testing.T) {
		s := newServer(t, plainCfg)
		q := "signature=899cf89e464efb63f54ddac96b0a0a235f53aa78&timestamp=1714037059&nonce=486452656"
		body := "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><FromUserName><![CDATA[u1]]></FromUserName><CreateTime>1714037059</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content><MsgId>24567</MsgId></xml>"
		status, reply := s.do(t, s.raw(t, http.MethodPost, q, body, "text/xml"))
		if status != http.StatusOK || reply != "success" {
			t.Fatalf("got %d %q, want 200 \"success\"", status, reply)
		}
		got := s.rec.wait(t, 1)[0]
		if got.Content != "你好" || got.MsgID != "24567" || got.FromUserName != "u1" {
			t.Errorf("got %+v, want the pushed text", got)
		}
	})
}

func TestPushModes(t *testing.T) {
	msg := textMessage("o9AgO5Kd5ggOC-bXrbNODIiE3bGY", "7385616421349283841", "<b>退货</b> & \"refund\" ]]> done")
	event := wechat.Message{ToUserName: "gh", FromUserName: "o9Ag", CreateTime: 1714112445, MsgType: "event", Event: wechat.EventUserEnterTempSession, SessionFrom: "faq"}
	tests := []struct {
		name       string
		cfg        wechat.HandlerConfig
		safe       bool
		compatible bool
	}{
		{"plain", plainCfg, false, false},
		{"safe", safeCfg, true, false},
		{"compatible", safeCfg, true, true},
	}
	for _, tt := range tests {
		for _, f := range []wechat.Format{wechat.FormatXML, wechat.FormatJSON} {
			t.Run(tt.name+" "+f.String(), func(t *testing.T) {
				s := newServer(t, tt.cfg)
				p := s.push(tt.cfg)
				p.Compatible = tt.compatible
				for _, m := range []wechat.Message{msg, event} {
					status, reply := s.do(t, p.Request(m, f, tt.safe))
					if status != http.StatusOK || reply != "success" {
						t.Fatalf("got %d %q, want 200 \"success\"", status, reply)
					}
				}
				got := s.rec.wait(t, 2)
				if got[0] != msg {
					t.Errorf("got %+v, want %+v", got[0], msg)
				}
				if got[1] != event {
					t.Errorf("got %+v, want %+v", got[1], event)
				}
			})
		}
	}
}

func TestPushRefused(t *testing.T) {
	msg := textMessage("user1", "1001", "hello")
	other := wechat.HandlerConfig{Token: "wrong", AESKey: vecAESKey, AppID: vecAppID}

	// Requests built from a valid safe-mode push by changing one thing.
	safeReq := func(s *server, edit func(q url.Values, env map[string]string)) *http.Request {
		p := s.push(safeCfg)
		r := p.Request(msg, wechat.FormatJSON, true)
		q := r.URL.Query()
		b, _ := io.ReadAll(r.Body)
		env := map[string]string{}
		for _, kv := range strings.Split(strings.Trim(string(b), "{}"), `","`) {
			k, v, _ := strings.Cut(strings.Trim(kv, `"`), `":"`)
			env[k] = v
		}
		edit(q, env)
		body := `{"ToUserName":"` + env["ToUserName"] + `","Encrypt":"` + env["Encrypt"] + `"}`
		return s.raw(t, http.MethodPost, q.Encode(), body, "application/json")
	}
	resign := func(q url.Values, enc string) {
		q.Set("msg_signature", wechat.Signature(vecToken, q.Get("timestamp"), q.Get("nonce"), enc))
	}
	otherAppID, err := wechat.NewCipher(vecAESKey, "wx0000000000000000")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		cfg    wechat.HandlerConfig
		req    func(s *server) *http.Request
		status int
	}{
		{"plain: wrong token", plainCfg, func(s *server) *http.Request {
			return wechattest.Push{Token: "wrong", URL: s.srv.URL + "/wechat/callback"}.Request(msg, wechat.FormatXML, false)
		}, http.StatusForbidden},
		{"plain: no signature", plainCfg, func(s *server) *http.Request {
			return s.raw(t, http.MethodPost, "timestamp=1&nonce=2", string(wechattest.Body(msg, wechat.FormatXML)), "text/xml")
		}, http.StatusForbidden},
		{"plain: signature of other timestamp", plainCfg, func(s *server) *http.Request {
			r := s.push(plainCfg).Request(msg, wechat.FormatJSON, false)
			q := r.URL.Query()
			q.Set("timestamp", "1714112446")
			r.URL.RawQuery = q.Encode()
			return r
		}, http.StatusForbidden},
		{"plain: malformed body", plainCfg, func(s *server) *http.Request {
			r := s.push(plainCfg).Request(msg, wechat.FormatJSON, false)
			return s.raw(t, http.MethodPost, r.URL.RawQuery, `{"MsgType":`, "application/json")
		}, http.StatusBadRequest},
		{"plain: too large", plainCfg, func(s *server) *http.Request {
			r := s.push(plainCfg).Request(msg, wechat.FormatJSON, false)
			big := textMessage("user1", "1001", strings.Repeat("x", wechat.MaxBodyBytes))
			return s.raw(t, http.MethodPost, r.URL.RawQuery, string(wechattest.Body(big, wechat.FormatJSON)), "application/json")
		}, http.StatusRequestEntityTooLarge},
		{"plain: encrypted push without a key", plainCfg, func(s *server) *http.Request {
			return s.push(safeCfg).Request(msg, wechat.FormatXML, true)
		}, http.StatusInternalServerError},
		{"safe: plain push", safeCfg, func(s *server) *http.Request {
			return s.push(safeCfg).Request(msg, wechat.FormatXML, false)
		}, http.StatusForbidden},
		{"safe: wrong token", safeCfg, func(s *server) *http.Request {
			p := s.push(other)
			return p.Request(msg, wechat.FormatXML, true)
		}, http.StatusForbidden},
		{"safe: no msg_signature", safeCfg, func(s *server) *http.Request {
			return safeReq(s, func(q url.Values, _ map[string]string) { q.Del("msg_signature") })
		}, http.StatusForbidden},
		{"safe: wrong plain signature", safeCfg, func(s *server) *http.Request {
			return safeReq(s, func(q url.Values, _ map[string]string) { q.Set("signature", strings.Repeat("0", 40)) })
		}, http.StatusForbidden},
		{"safe: tampered ciphertext", safeCfg, func(s *server) *http.Request {
			return safeReq(s, func(_ url.Values, env map[string]string) { env["Encrypt"] = "B" + env["Encrypt"][1:] })
		}, http.StatusForbidden},
		{"safe: tampered ciphertext, signed again", safeCfg, func(s *server) *http.Request {
			return safeReq(s, func(q url.Values, env map[string]string) {
				enc := []byte(env["Encrypt"])
				enc[len(enc)-4] ^= 1 // still base64, different last block
				env["Encrypt"] = string(enc)
				resign(q, env["Encrypt"])
			})
		}, http.StatusBadRequest},
		{"safe: not base64, signed", safeCfg, func(s *server) *http.Request {
			return safeReq(s, func(q url.Values, env map[string]string) {
				env["Encrypt"] = "!!!not base64!!!"
				resign(q, env["Encrypt"])
			})
		}, http.StatusBadRequest},
		{"safe: other appid, signed", safeCfg, func(s *server) *http.Request {
			return safeReq(s, func(q url.Values, env map[string]string) {
				enc, err := otherAppID.Encrypt(wechattest.Body(msg, wechat.FormatJSON), nil)
				if err != nil {
					t.Fatal(err)
				}
				env["Encrypt"] = enc
				resign(q, enc)
			})
		}, http.StatusBadRequest},
		{"safe: no Encrypt", safeCfg, func(s *server) *http.Request {
			return safeReq(s, func(q url.Values, env map[string]string) {
				env["Encrypt"] = ""
				resign(q, "")
			})
		}, http.StatusBadRequest},
		{"put", plainCfg, func(s *server) *http.Request {
			return s.raw(t, http.MethodPut, "", "", "")
		}, http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.cfg)
			if status, _ := s.do(t, tt.req(s)); status != tt.status {
				t.Fatalf("got status %d, want %d", status, tt.status)
			}
			// No side effect: the same message, sent properly, is still
			// new, and it is the only delivery.
			barrier := s.push(tt.cfg).Request(msg, wechat.FormatJSON, tt.cfg.AESKey != "")
			if status, _ := s.do(t, barrier); status != http.StatusOK {
				t.Fatalf("valid push after the refused one: got status %d, want 200", status)
			}
			if got := s.rec.wait(t, 1)[0]; got != msg {
				t.Errorf("got %+v, want %+v", got, msg)
			}
			s.rec.none(t)
		})
	}
}

func TestPushDuplicates(t *testing.T) {
	first := textMessage("user1", "1001", "first")
	event := wechat.Message{FromUserName: "user1", CreateTime: 1714112446, MsgType: "event", Event: wechat.EventUserEnterTempSession}
	barrier := textMessage("user1", "1002", "barrier")
	for _, cfg := range []wechat.HandlerConfig{plainCfg, safeCfg} {
		t.Run("safe="+boolString(cfg.AESKey != ""), func(t *testing.T) {
			s := newServer(t, cfg)
			p := s.push(cfg)
			safe := cfg.AESKey != ""
			send := func(m wechat.Message, f wechat.Format, nonce string) {
				t.Helper()
				p.Nonce = nonce // WeChat's retries come with fresh nonces
				if status, reply := s.do(t, p.Request(m, f, safe)); status != http.StatusOK || reply != "success" {
					t.Fatalf("got %d %q, want 200 \"success\"", status, reply)
				}
			}
			send(first, wechat.FormatXML, "1")
			send(first, wechat.FormatXML, "2")
			send(first, wechat.FormatJSON, "3")
			send(event, wechat.FormatJSON, "4")
			send(event, wechat.FormatJSON, "5")
			send(barrier, wechat.FormatXML, "6")
			got := s.rec.wait(t, 3)
			want := []wechat.Message{first, event, barrier}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("delivery %d: got %+v, want %+v", i, got[i], want[i])
				}
			}
			s.rec.none(t)
		})
	}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// TestQueueFull fills the one worker's queue: the push that does not fit is
// refused with 503 and not remembered, so WeChat's retry is delivered.
func TestQueueFull(t *testing.T) {
	started := make(chan wechat.Message, 10)
	release := make(chan struct{})
	cfg := plainCfg
	cfg.Workers, cfg.QueueSize = 1, 1
	cfg.Deliver = func(_ context.Context, m wechat.Message) {
		started <- m
		<-release
	}
	s := newServer(t, cfg)
	p := s.push(cfg)
	a, b, c := textMessage("u", "1", "a"), textMessage("u", "2", "b"), textMessage("u", "3", "c")

	if status, _ := s.do(t, p.Request(a, wechat.FormatJSON, false)); status != http.StatusOK {
		t.Fatalf("a: got %d, want 200", status)
	}
	if got := <-started; got != a {
		t.Fatalf("got %+v, want %+v", got, a)
	}
	if status, _ := s.do(t, p.Request(b, wechat.FormatJSON, false)); status != http.StatusOK {
		t.Fatalf("b: got %d, want 200 (queued)", status)
	}
	if status, _ := s.do(t, p.Request(c, wechat.FormatJSON, false)); status != http.StatusServiceUnavailable {
		t.Fatalf("c: got %d, want 503 (queue full)", status)
	}
	release <- struct{}{} // a done
	if got := <-started; got != b {
		t.Fatalf("got %+v, want %+v", got, b)
	}
	if status, _ := s.do(t, p.Request(c, wechat.FormatJSON, false)); status != http.StatusOK {
		t.Fatalf("c retried: got %d, want 200", status)
	}
	release <- struct{}{} // b done
	if got := <-started; got != c {
		t.Fatalf("got %+v, want %+v", got, c)
	}
	close(release)
}

func TestDeliverPanics(t *testing.T) {
	rec := newRecorder()
	cfg := plainCfg
	cfg.Workers = 1
	cfg.Deliver = func(ctx context.Context, m wechat.Message) {
		if m.Content == "boom" {
			panic("boom")
		}
		rec.deliver(ctx, m)
	}
	s := newServer(t, cfg)
	p := s.push(cfg)
	s.do(t, p.Request(textMessage("u", "1", "boom"), wechat.FormatJSON, false))
	s.do(t, p.Request(textMessage("u", "2", "fine"), wechat.FormatJSON, false))
	if got := rec.wait(t, 1)[0]; got.Content != "fine" {
		t.Errorf("got %q, want \"fine\"", got.Content)
	}
}

func TestClose(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	var delivered []string
	var mu sync.Mutex
	cfg := plainCfg
	cfg.Workers = 1
	cfg.Deliver = func(_ context.Context, m wechat.Message) {
		if m.Content == "slow" {
			close(started)
			<-release
		}
		mu.Lock()
		delivered = append(delivered, m.Content)
		mu.Unlock()
	}
	s := newServer(t, cfg)
	p := s.push(cfg)
	s.do(t, p.Request(textMessage("u", "1", "slow"), wechat.FormatJSON, false))
	<-started
	s.do(t, p.Request(textMessage("u", "2", "queued"), wechat.FormatJSON, false))

	closed := make(chan error)
	go func() { closed <- s.h.Close() }()
	// Pushes after Close began are refused (Close marks the Handler closed
	// before it waits); the check runs once Close is known to have started,
	// i.e. once a push gets 503.
	for {
		status, _ := s.do(t, p.Request(textMessage("u", "3", "late"), wechat.FormatJSON, false))
		if status == http.StatusServiceUnavailable {
			break
		}
		if status != http.StatusOK {
			t.Fatalf("got %d, want 200 or 503", status)
		}
		// 200: Close had not started yet; the duplicate MsgId keeps this
		// from being delivered twice.
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned %v while a delivery was in flight", err)
	default:
	}
	close(release)
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(delivered) < 2 || delivered[0] != "slow" || delivered[1] != "queued" {
		t.Errorf("got %q delivered, want slow, queued (and maybe late)", delivered)
	}
	if err := s.h.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestShutdownDeadline(t *testing.T) {
	started := make(chan struct{})
	canceled := make(chan struct{})
	cfg := plainCfg
	cfg.Workers = 1
	cfg.Deliver = func(ctx context.Context, m wechat.Message) {
		close(started)
		<-ctx.Done()
		close(canceled)
	}
	s := newServer(t, cfg)
	p := s.push(cfg)
	s.do(t, p.Request(textMessage("u", "1", "stuck"), wechat.FormatJSON, false))
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.h.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	select {
	case <-canceled:
	default:
		t.Error("Shutdown returned before Deliver saw its context canceled")
	}
}

// TestNoGoroutineLeak runs a Handler in a synctest bubble: the test fails
// with a deadlock if any of its goroutines outlives Close.
func TestNoGoroutineLeak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		h, err := wechat.NewHandler(wechat.HandlerConfig{Token: vecToken, Deliver: rec.deliver})
		if err != nil {
			t.Fatal(err)
		}
		p := wechattest.Push{Token: vecToken}
		for i, c := range []string{"a", "b", "c"} {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, p.Request(textMessage("u"+c, string(rune('1'+i)), c), wechat.FormatXML, false))
			if w.Code != http.StatusOK {
				t.Fatalf("got %d, want 200", w.Code)
			}
		}
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
		if got := len(rec.ch); got != 3 {
			t.Errorf("got %d deliveries, want 3", got)
		}
	})
}

func TestNoSecretsLogged(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := safeCfg
	cfg.Logger = logger
	s := newServer(t, cfg)
	p := s.push(cfg)
	msg := textMessage("user1", "1001", "my secret question")
	s.do(t, p.Request(msg, wechat.FormatJSON, true))
	s.do(t, p.Request(msg, wechat.FormatJSON, false))
	s.do(t, wechattest.Push{Token: "nope", URL: p.URL}.Request(msg, wechat.FormatJSON, false))
	s.do(t, p.Verification("echo"))
	s.rec.wait(t, 1)
	s.h.Close()

	mu.Lock()
	defer mu.Unlock()
	logs := buf.String()
	if logs == "" {
		t.Fatal("got no logs, want some")
	}
	for _, secret := range []string{vecToken, vecAESKey, "my secret question"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "user1") && !strings.Contains(line, "level=DEBUG") {
			t.Errorf("openid logged above debug level: %s", line)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(b)
}

func TestNewHandlerErrors(t *testing.T) {
	deliver := func(context.Context, wechat.Message) {}
	tests := []struct {
		name string
		cfg  wechat.HandlerConfig
	}{
		{"no token", wechat.HandlerConfig{Deliver: deliver}},
		{"no deliver", wechat.HandlerConfig{Token: "t"}},
		{"bad key", wechat.HandlerConfig{Token: "t", Deliver: deliver, AESKey: "short", AppID: "wx"}},
		{"key without appid", wechat.HandlerConfig{Token: "t", Deliver: deliver, AESKey: vecAESKey}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if h, err := wechat.NewHandler(tt.cfg); err == nil {
				h.Close()
				t.Error("got no error, want one")
			}
		})
	}
}
