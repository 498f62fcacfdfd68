package wechat_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hotline12367/hotline/wechat"
	"github.com/hotline12367/hotline/wechat/wechattest"
)

// clock is a fake clock shared by the Fake and the Client under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1714112445, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// sleeper records the backoffs a Client asks for instead of sleeping.
type sleeper struct {
	mu    sync.Mutex
	slept []time.Duration
	err   error // returned by Sleep when set
}

func (s *sleeper) Sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slept = append(s.slept, d)
	return s.err
}

func (s *sleeper) Slept() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.slept...)
}

type env struct {
	fake   *wechattest.Fake
	client *wechat.Client
	clock  *clock
	sleep  *sleeper
	logs   *syncBuffer
}

const (
	testAppID  = "wxtestappid"
	testSecret = "s3cr3t-app-secret"
	user       = "o9AgO5Kd5ggOC-bXrbNODIiE3bGY"
)

// newEnv starts a Fake configured by fc and a Client against it, sharing a
// fake clock, with user inside the 48-hour window.
func newEnv(t *testing.T, fc wechattest.FakeConfig) *env {
	t.Helper()
	e := &env{clock: newClock(), sleep: &sleeper{}, logs: &syncBuffer{}}
	fc.AppID, fc.Secret, fc.Now = testAppID, testSecret, e.clock.Now
	e.fake = wechattest.NewFake(fc)
	t.Cleanup(e.fake.Close)
	c, err := wechat.NewClient(wechat.ClientConfig{
		API:        e.fake.URL(),
		AppID:      testAppID,
		Secret:     testSecret,
		HTTPClient: e.fake.Client(),
		Now:        e.clock.Now,
		Sleep:      e.sleep.Sleep,
		Logger:     slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	e.client = c
	e.fake.UserMessaged(user, e.clock.Now())
	return e
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func codes(ms []wechattest.SentMessage) []int {
	var out []int
	for _, m := range ms {
		out = append(out, m.ErrCode)
	}
	return out
}

func TestSendTextAndTokenReuse(t *testing.T) {
	e := newEnv(t, wechattest.FakeConfig{})
	ctx := context.Background()
	for _, text := range []string{"hello", `<a href="x">退货 & 换货</a>`} {
		if err := e.client.SendText(ctx, user, text); err != nil {
			t.Fatalf("SendText(%q): %v", text, err)
		}
	}
	sent, err := e.fake.WaitSent(2, deliveryTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if sent[0].Content != "hello" || sent[1].Content != `<a href="x">退货 & 换货</a>` {
		t.Errorf("got %q, %q, want the texts sent", sent[0].Content, sent[1].Content)
	}
	if sent[0].ToUser != user || sent[0].MsgType != "text" {
		t.Errorf("got touser %q msgtype %q, want %q text", sent[0].ToUser, sent[0].MsgType, user)
	}
	if !bytes.Contains(sent[1].Body, []byte(`<a href=\"x\">退货 & 换货</a>`)) {
		t.Errorf("got body %s, want HTML characters unescaped", sent[1].Body)
	}
	if got := e.fake.TokenRequests(); got != 1 {
		t.Errorf("got %d token requests, want 1", got)
	}
	if sent[0].Token != sent[1].Token {
		t.Errorf("got tokens %q and %q, want one token reused", sent[0].Token, sent[1].Token)
	}
}

func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	tests := []struct {
		name      string
		expiresIn time.Duration
		stillGood time.Duration // age at which the cached token is still used
		refreshed time.Duration // age at which a new one is fetched
	}{
		{"two hours", 7200 * time.Second, 7200*time.Second - 5*time.Minute - time.Second, 7200*time.Second - 5*time.Minute},
		{"short lived", time.Minute, 29 * time.Second, 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, wechattest.FakeConfig{ExpiresIn: tt.expiresIn})
			ctx := context.Background()
			tok1, err := e.client.AccessToken(ctx)
			if err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(tt.stillGood)
			if tok, _ := e.client.AccessToken(ctx); tok != tok1 {
				t.Errorf("at %v: got a new token, want the cached one", tt.stillGood)
			}
			e.clock.Advance(tt.refreshed - tt.stillGood)
			tok2, err := e.client.AccessToken(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tok2 == tok1 {
				t.Errorf("at %v: got the old token, want a new one", tt.refreshed)
			}
			if got := e.fake.TokenRequests(); got != 2 {
				t.Errorf("got %d token requests, want 2", got)
			}
		})
	}
}

func TestConcurrentCallersShareOneRefresh(t *testing.T) {
	e := newEnv(t, wechattest.FakeConfig{Quota: 100})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() { errs <- e.client.SendText(context.Background(), user, "hi") })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := e.fake.TokenRequests(); got != 1 {
		t.Errorf("got %d token requests, want 1", got)
	}
	// After an invalidation, concurrent callers again refresh once.
	e.fake.ExpireTokens()
	errs = make(chan error, 20)
	for range 20 {
		wg.Go(func() { errs <- e.client.SendText(context.Background(), user, "hi") })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := e.fake.TokenRequests(); got != 2 {
		t.Errorf("after ExpireTokens: got %d token requests, want 2", got)
	}
}

func TestSendTextErrors(t *testing.T) {
	tests := []struct {
		name          string
		fake          wechattest.FakeConfig
		setup         func(e *env)
		to            string
		wantIs        error
		wantCode      int   // 0: success wanted
		wantAttempts  []int // the Fake's answers, in order
		wantTokens    int
		wantSlept     []time.Duration
		sleepErr      error
		wantNotAPIErr bool
	}{
		{
			name:         "expired token refreshed once",
			setup:        func(e *env) { e.client.AccessToken(context.Background()); e.fake.ExpireTokens() },
			wantAttempts: []int{40001, 0},
			wantTokens:   2,
		},
		{
			name:         "42001 refreshed once",
			setup:        func(e *env) { e.fake.FailNext(1, 42001) },
			wantAttempts: []int{42001, 0},
			wantTokens:   2,
		},
		{
			name:         "40014 refreshed once",
			setup:        func(e *env) { e.fake.FailNext(1, 40014) },
			wantAttempts: []int{40014, 0},
			wantTokens:   2,
		},
		{
			name:         "fresh token rejected too: retried once only",
			setup:        func(e *env) { e.fake.FailNext(2, 40001) },
			wantCode:     40001,
			wantAttempts: []int{40001, 40001},
			wantTokens:   2,
		},
		{
			name:         "system error retried with backoff",
			setup:        func(e *env) { e.fake.FailNext(2, -1) },
			wantAttempts: []int{-1, -1, 0},
			wantTokens:   1,
			wantSlept:    []time.Duration{500 * time.Millisecond, time.Second},
		},
		{
			name:         "system error three times",
			setup:        func(e *env) { e.fake.FailNext(5, -1) },
			wantCode:     -1,
			wantAttempts: []int{-1, -1, -1},
			wantTokens:   1,
			wantSlept:    []time.Duration{500 * time.Millisecond, time.Second},
		},
		{
			name:         "rate limit retried",
			setup:        func(e *env) { e.fake.FailNext(1, 45009) },
			wantAttempts: []int{45009, 0},
			wantTokens:   1,
			wantSlept:    []time.Duration{500 * time.Millisecond},
		},
		{
			name:         "retry abandoned when the context ends",
			setup:        func(e *env) { e.fake.FailNext(1, -1) },
			sleepErr:     context.Canceled,
			wantIs:       context.Canceled,
			wantCode:     -1,
			wantAttempts: []int{-1},
			wantTokens:   1,
			wantSlept:    []time.Duration{500 * time.Millisecond},
		},
		{
			name:         "never messaged: outside window",
			to:           "someone-else",
			wantIs:       wechat.ErrOutsideWindow,
			wantCode:     45015,
			wantAttempts: []int{45015},
			wantTokens:   1,
		},
		{
			name:         "messaged 49 hours ago: outside window",
			setup:        func(e *env) { e.fake.UserMessaged(user, e.clock.Now().Add(-49*time.Hour)) },
			wantIs:       wechat.ErrOutsideWindow,
			wantCode:     45015,
			wantAttempts: []int{45015},
			wantTokens:   1,
		},
		{
			name:         "messaged 47 hours ago: inside window",
			setup:        func(e *env) { e.fake.UserMessaged(user, e.clock.Now().Add(-47*time.Hour)) },
			wantAttempts: []int{0},
			wantTokens:   1,
		},
		{
			name: "quota used up",
			fake: wechattest.FakeConfig{Quota: 2},
			setup: func(e *env) {
				e.client.SendText(context.Background(), user, "1")
				e.client.SendText(context.Background(), user, "2")
			},
			wantIs:       wechat.ErrQuotaExceeded,
			wantCode:     45047,
			wantAttempts: []int{0, 0, 45047},
			wantTokens:   1,
		},
		{
			name:         "other errcode",
			setup:        func(e *env) { e.fake.FailNext(1, 48001) },
			wantCode:     48001,
			wantAttempts: []int{48001},
			wantTokens:   1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.fake)
			e.sleep.err = tt.sleepErr
			if tt.setup != nil {
				tt.setup(e)
			}
			to := tt.to
			if to == "" {
				to = user
			}
			err := e.client.SendText(context.Background(), to, "hello")
			if tt.wantCode == 0 {
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
			} else {
				apiErr, ok := errors.AsType[*wechat.APIError](err)
				if !ok || apiErr.Code != tt.wantCode {
					t.Fatalf("got %v, want an *APIError with code %d", err, tt.wantCode)
				}
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("got %v, want errors.Is %v", err, tt.wantIs)
			}
			if got := codes(e.fake.Attempts()); !slices.Equal(got, tt.wantAttempts) {
				t.Errorf("got attempts answered %v, want %v", got, tt.wantAttempts)
			}
			if got := e.fake.TokenRequests(); got != tt.wantTokens {
				t.Errorf("got %d token requests, want %d", got, tt.wantTokens)
			}
			if got := e.sleep.Slept(); !slices.Equal(got, tt.wantSlept) {
				t.Errorf("got backoffs %v, want %v", got, tt.wantSlept)
			}
		})
	}
}

func TestSendLongText(t *testing.T) {
	para := strings.Repeat("您好，这是关于退货政策的详细说明。退货需要在收到商品后七天内申请！", 20) // 20×35 runes × 3 bytes
	text := para + "\n\n" + para + "\n\n" + strings.Repeat("word ", 600)
	e := newEnv(t, wechattest.FakeConfig{Quota: 100})
	if err := e.client.SendText(context.Background(), user, text); err != nil {
		t.Fatalf("SendText: %v", err)
	}
	sent := e.fake.Sent()
	if len(sent) < 3 {
		t.Fatalf("got %d messages, want the text cut into several", len(sent))
	}
	var joined strings.Builder
	for i, m := range sent {
		if len(m.Content) > wechat.MaxTextBytes {
			t.Errorf("part %d: got %d bytes, want at most %d", i, len(m.Content), wechat.MaxTextBytes)
		}
		if !utf8.ValidString(m.Content) {
			t.Errorf("part %d: got invalid UTF-8", i)
		}
		if !strings.HasSuffix(m.Content, "。") && !strings.HasSuffix(m.Content, "！") && !strings.HasSuffix(m.Content, "word") {
			t.Errorf("part %d: got a cut inside a sentence or word: …%s", i, m.Content[max(0, len(m.Content)-30):])
		}
		joined.WriteString(m.Content)
	}
	strip := func(s string) string { return strings.Join(strings.Fields(s), "") }
	if strip(joined.String()) != strip(text) {
		t.Error("got parts that do not add up to the text")
	}
}

func TestSendTextEmpty(t *testing.T) {
	e := newEnv(t, wechattest.FakeConfig{})
	if err := e.client.SendText(context.Background(), user, " \n\t"); !errors.Is(err, wechat.ErrEmptyText) {
		t.Errorf("got %v, want ErrEmptyText", err)
	}
	if got := len(e.fake.Attempts()); got != 0 {
		t.Errorf("got %d sends, want 0", got)
	}
}

func TestTyping(t *testing.T) {
	e := newEnv(t, wechattest.FakeConfig{})
	ctx := context.Background()
	if err := e.client.Typing(ctx, user, true); err != nil {
		t.Fatal(err)
	}
	if err := e.client.Typing(ctx, user, false); err != nil {
		t.Fatal(err)
	}
	if err := e.client.Typing(ctx, "stranger", true); !errors.Is(err, wechat.ErrOutsideWindow) {
		t.Errorf("typing to a stranger: got %v, want ErrOutsideWindow", err)
	}
	got := e.fake.Typing()
	want := []wechattest.TypingCommand{{ToUser: user, Command: "Typing"}, {ToUser: user, Command: "CancelTyping"}, {ToUser: "stranger", Command: "Typing", ErrCode: 45015}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("command %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestSecretsNotLeaked(t *testing.T) {
	t.Run("wrong secret", func(t *testing.T) {
		e := newEnv(t, wechattest.FakeConfig{})
		c, err := wechat.NewClient(wechat.ClientConfig{API: e.fake.URL(), AppID: testAppID, Secret: "wrong-secret-value", HTTPClient: e.fake.Client()})
		if err != nil {
			t.Fatal(err)
		}
		err = c.SendText(context.Background(), user, "hi")
		if apiErr, ok := errors.AsType[*wechat.APIError](err); !ok || apiErr.Code != 40125 {
			t.Fatalf("got %v, want errcode 40125", err)
		}
		if strings.Contains(err.Error(), "wrong-secret-value") {
			t.Errorf("error contains the secret: %v", err)
		}
	})
	t.Run("transport error", func(t *testing.T) {
		e := newEnv(t, wechattest.FakeConfig{})
		tok, err := e.client.AccessToken(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		e.fake.Close() // the next send fails in transport, with the token in its URL
		err = e.client.SendText(context.Background(), user, "my private text")
		if err == nil {
			t.Fatal("got no error, want a transport error")
		}
		for _, secret := range []string{tok, testSecret, "access_token"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error contains %q: %v", secret, err)
			}
		}
	})
	t.Run("logs", func(t *testing.T) {
		e := newEnv(t, wechattest.FakeConfig{})
		e.fake.FailNext(1, 40001)
		if err := e.client.SendText(context.Background(), user, "my private text"); err != nil {
			t.Fatal(err)
		}
		e.fake.FailNext(1, -1)
		if err := e.client.SendText(context.Background(), user, "my private text"); err != nil {
			t.Fatal(err)
		}
		logs := e.logs.String()
		if logs == "" {
			t.Fatal("got no logs, want some")
		}
		secrets := []string{testSecret, "my private text"}
		for _, m := range e.fake.Attempts() {
			secrets = append(secrets, m.Token)
		}
		for _, s := range secrets {
			if strings.Contains(logs, s) {
				t.Errorf("logs contain %q:\n%s", s, logs)
			}
		}
	})
}

func TestNewClientErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  wechat.ClientConfig
	}{
		{"no appid", wechat.ClientConfig{Secret: "s"}},
		{"no secret", wechat.ClientConfig{AppID: "a"}},
		{"relative api", wechat.ClientConfig{AppID: "a", Secret: "s", API: "api.weixin.qq.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := wechat.NewClient(tt.cfg); err == nil {
				t.Error("got no error, want one")
			}
		})
	}
}

// TestHandlerToClient drives the whole bridge: a push from the wechattest
// helper reaches a Handler whose Deliver answers through a Client to the
// Fake.
func TestHandlerToClient(t *testing.T) {
	e := newEnv(t, wechattest.FakeConfig{})
	cfg := safeCfg
	cfg.Deliver = func(ctx context.Context, m wechat.Message) {
		e.fake.UserMessaged(m.FromUserName, time.Unix(m.CreateTime, 0))
		if err := e.client.SendText(ctx, m.FromUserName, "回复: "+m.Content); err != nil {
			t.Errorf("SendText: %v", err)
		}
	}
	s := newServer(t, cfg)
	msg := textMessage("openid-42", "777", "退货")
	msg.CreateTime = e.clock.Now().Unix()
	if status, _ := s.do(t, s.push(cfg).Request(msg, wechat.FormatXML, true)); status != http.StatusOK {
		t.Fatalf("got status %d, want 200", status)
	}
	sent, err := e.fake.WaitSent(1, deliveryTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if sent[0].ToUser != "openid-42" || sent[0].Content != "回复: 退货" {
		t.Errorf("got %+v, want the reply to openid-42", sent[0])
	}
}
