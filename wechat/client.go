package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// DefaultAPI is the base URL of WeChat's server API.
const DefaultAPI = "https://api.weixin.qq.com"

// MaxTextBytes is the default limit on the UTF-8 length of one text message's
// content. WeChat's documentation states no limit for customer-service text;
// past about 2048 bytes the API answers errcode 45002 "content size out of
// limit" (as WeChat's staff confirm on the developer forum), so SendText cuts
// longer texts into several messages of at most this many bytes.
const MaxTextBytes = 2048

// Errors returned by [Client.SendText] and [Client.Typing]. The first two
// come wrapped together with the [*APIError] WeChat answered, so errors.As
// still finds the code and message.
var (
	// ErrOutsideWindow (errcode 45015) means the user last wrote more than 48
	// hours ago: the mini-program may not message them until they write
	// again. It is never retried.
	ErrOutsideWindow = errors.New("wechat: outside the 48-hour reply window")
	// ErrQuotaExceeded (errcode 45047) means the replies allowed per user
	// message (5 in 48 hours) are used up. It is never retried.
	ErrQuotaExceeded = errors.New("wechat: reply quota exceeded")
	// ErrEmptyText means SendText was given nothing but white space.
	ErrEmptyText = errors.New("wechat: empty text")
)

// WeChat errcodes the Client acts on.
const (
	codeSystemBusy     = -1
	codeInvalidToken   = 40001
	codeBadToken       = 40014
	codeTokenExpired   = 42001
	codeFreqLimit      = 45009
	codeOutsideWindow  = 45015
	codeQuotaExceeded  = 45047
	maxResponseBytes   = 1 << 20
	tokenEarlyRefresh  = 5 * time.Minute
	defaultTokenTTL    = 7200 * time.Second
	defaultHTTPTimeout = 10 * time.Second
)

// APIError is an errcode other than 0 in an answer of WeChat's API.
type APIError struct {
	Code int    // errcode
	Msg  string // errmsg
}

// Error returns "wechat: errcode CODE: MSG".
func (e *APIError) Error() string {
	return fmt.Sprintf("wechat: errcode %d: %s", e.Code, e.Msg)
}

// ClientConfig configures a [Client]. AppID and Secret are required.
type ClientConfig struct {
	// API is the base URL of WeChat's API, DefaultAPI if empty. Tests point
	// it at a wechattest.Fake.
	API string
	// AppID and Secret (AppSecret) of the mini-program. The Secret is never
	// logged nor put in an error.
	AppID, Secret string
	// HTTPClient makes the requests; if nil, a client with a 10 s timeout.
	HTTPClient *http.Client
	// Now is the clock that dates the access token (time.Now if nil).
	Now func() time.Time
	// Sleep waits d or until ctx is done, returning ctx.Err() then; it paces
	// the retries after errcodes -1 and 45009. If nil, a timer is used.
	Sleep func(ctx context.Context, d time.Duration) error
	// Tries is the number of attempts for errcodes -1 and 45009 (default 3),
	// and Backoff the wait before the second (default 500 ms), doubled
	// before each later one.
	Tries   int
	Backoff time.Duration
	// MaxTextBytes is the most content bytes SendText puts in one message
	// (default MaxTextBytes).
	MaxTextBytes int
	// Logger receives the Client's logs (discarded if nil). Neither the
	// secret nor the access token nor message text is ever logged.
	Logger *slog.Logger
}

// Client calls WeChat's server API for one mini-program. It keeps the access
// token: fetched on first use, shared by all calls, refreshed 5 minutes
// before it expires and when WeChat rejects it; concurrent callers wait for a
// single refresh. A Client is safe for concurrent use; create it with
// [NewClient] and use one per appid in the process, since each new token
// WeChat issues invalidates the previous one.
type Client struct {
	api     string
	appID   string
	secret  string
	hc      *http.Client
	now     func() time.Time
	sleep   func(ctx context.Context, d time.Duration) error
	tries   int
	backoff time.Duration
	maxText int
	log     *slog.Logger

	mu        sync.Mutex
	token     string
	refreshAt time.Time
	flight    *tokenFlight // the refresh under way, if any
}

// tokenFlight is one token request that concurrent callers share.
type tokenFlight struct {
	done  chan struct{} // closed when token and err are set
	token string
	err   error
}

// NewClient returns a Client for cfg. It returns an error if AppID or Secret
// is empty or API is not an absolute URL.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.AppID == "" || cfg.Secret == "" {
		return nil, errors.New("wechat: client needs an appid and a secret")
	}
	api := cfg.API
	if api == "" {
		api = DefaultAPI
	}
	if u, err := url.Parse(api); err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("wechat: api %q is not an absolute URL", api)
	}
	c := &Client{
		api:     strings.TrimRight(api, "/"),
		appID:   cfg.AppID,
		secret:  cfg.Secret,
		hc:      cfg.HTTPClient,
		now:     cfg.Now,
		sleep:   cfg.Sleep,
		tries:   cfg.Tries,
		backoff: cfg.Backoff,
		maxText: cfg.MaxTextBytes,
		log:     cfg.Logger,
	}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: defaultHTTPTimeout}
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	if c.tries <= 0 {
		c.tries = 3
	}
	if c.backoff <= 0 {
		c.backoff = 500 * time.Millisecond
	}
	if c.maxText <= 0 {
		c.maxText = MaxTextBytes
	}
	if c.maxText < utf8.UTFMax {
		c.maxText = utf8.UTFMax
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// AccessToken returns a valid access token, fetching a new one from
// {api}/cgi-bin/token if none is cached or the cached one is due for refresh.
// Concurrent callers share one fetch. It returns an [*APIError] if WeChat
// refuses (e.g. a wrong secret, or a server IP missing from the allowlist).
func (c *Client) AccessToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	if c.token != "" && c.now().Before(c.refreshAt) {
		tok := c.token
		c.mu.Unlock()
		return tok, nil
	}
	f := c.flight
	if f == nil {
		f = &tokenFlight{done: make(chan struct{})}
		c.flight = f
		c.mu.Unlock()
		// The fetch is shared, so one caller's cancellation must not fail
		// the others: it runs detached, bounded by the HTTP client timeout.
		go c.fetchToken(context.WithoutCancel(ctx), f)
	} else {
		c.mu.Unlock()
	}
	select {
	case <-f.done:
		return f.token, f.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// fetchToken runs flight f to completion.
func (c *Client) fetchToken(ctx context.Context, f *tokenFlight) {
	q := url.Values{
		"grant_type": {"client_credential"},
		"appid":      {c.appID},
		"secret":     {c.secret},
	}
	var resp struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	start := c.now()
	err := c.do(ctx, http.MethodGet, "/cgi-bin/token?"+q.Encode(), nil, &resp)
	if err == nil && resp.AccessToken == "" {
		err = errors.New("wechat: token answer has no access_token")
	}
	ttl := time.Duration(resp.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = defaultTokenTTL
	}
	early := min(tokenEarlyRefresh, ttl/2)

	c.mu.Lock()
	if err == nil {
		c.token = resp.AccessToken
		c.refreshAt = start.Add(ttl - early)
		c.log.Debug("wechat: access token refreshed", "expires_in", ttl)
	} else {
		c.log.Warn("wechat: access token refresh failed", "err", err)
	}
	c.flight = nil
	f.token, f.err = resp.AccessToken, err
	close(f.done)
	c.mu.Unlock()
}

// invalidate forgets tok if it is still the cached token, so that the next
// AccessToken fetches a new one. Callers that saw the same rejected token
// thus cause one refresh, not one each.
func (c *Client) invalidate(tok string) {
	c.mu.Lock()
	if c.token == tok {
		c.token = ""
	}
	c.mu.Unlock()
}

// SendText sends text to the user openID as customer-service text messages
// (POST {api}/cgi-bin/message/custom/send). A text longer than the limit is
// cut into several messages, at paragraph, line, sentence or word ends where
// possible and never inside a UTF-8 sequence; each part counts against the
// user's reply quota.
//
// A rejected access token (40001, 40014, 42001) is refreshed once and the
// part retried once; -1 and 45009 are retried with backoff. SendText returns
// an error wrapping [ErrOutsideWindow] (45015) or [ErrQuotaExceeded] (45047),
// never retried, an [*APIError] for other errcodes, [ErrEmptyText], or a
// transport error, which is not retried either since the message may have
// gone out. Parts sent before a failure stay sent. The parts of one call go
// out in order; concurrent calls for one user may interleave.
func (c *Client) SendText(ctx context.Context, openID, text string) error {
	parts := SplitText(text, c.maxText)
	if len(parts) == 0 {
		return ErrEmptyText
	}
	for i, p := range parts {
		body := map[string]any{
			"touser":  openID,
			"msgtype": "text",
			"text":    map[string]string{"content": p},
		}
		if err := c.post(ctx, "/cgi-bin/message/custom/send", body); err != nil {
			if i > 0 {
				return fmt.Errorf("after %d of %d parts: %w", i, len(parts), err)
			}
			return err
		}
	}
	return nil
}

// Typing shows (on) or hides the "typing…" indicator in the user's
// conversation (POST {api}/cgi-bin/message/custom/typing, command "Typing" or
// "CancelTyping"). It returns errors as SendText does.
func (c *Client) Typing(ctx context.Context, openID string, on bool) error {
	cmd := "CancelTyping"
	if on {
		cmd = "Typing"
	}
	return c.post(ctx, "/cgi-bin/message/custom/typing", map[string]string{"touser": openID, "command": cmd})
}

// post POSTs body to path with the access token, applying the retry policy
// described at SendText.
func (c *Client) post(ctx context.Context, path string, body any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		return fmt.Errorf("wechat: encoding request: %w", err)
	}
	refreshed := false
	for attempt := 1; ; {
		tok, err := c.AccessToken(ctx)
		if err != nil {
			return err
		}
		err = c.do(ctx, http.MethodPost, path+"?access_token="+url.QueryEscape(tok), buf.Bytes(), nil)
		apiErr, ok := errors.AsType[*APIError](err)
		if !ok {
			return err // nil, or a transport error
		}
		switch apiErr.Code {
		case codeInvalidToken, codeBadToken, codeTokenExpired:
			if refreshed {
				return err
			}
			refreshed = true
			c.log.Info("wechat: access token rejected, refreshing", "errcode", apiErr.Code)
			c.invalidate(tok)
		case codeSystemBusy, codeFreqLimit:
			if attempt >= c.tries {
				return err
			}
			d := c.backoff << (attempt - 1)
			c.log.Warn("wechat: api busy, retrying", "errcode", apiErr.Code, "attempt", attempt, "backoff", d)
			if serr := c.sleep(ctx, d); serr != nil {
				return fmt.Errorf("%w (retry abandoned: %w)", err, serr)
			}
			attempt++
		case codeOutsideWindow:
			return fmt.Errorf("%w: %w", ErrOutsideWindow, err)
		case codeQuotaExceeded:
			return fmt.Errorf("%w: %w", ErrQuotaExceeded, err)
		default:
			return err
		}
	}
}

// do sends one request to the API and decodes its JSON answer into out. It
// returns an *APIError when the answer's errcode is not 0. Transport errors
// are stripped of the URL, which holds the token or the secret.
func (c *Client) do(ctx context.Context, method, pathQuery string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.api+pathQuery, rd)
	if err != nil {
		// The error would quote the URL, secret or token included.
		return fmt.Errorf("wechat: %s %s: bad request URL", method, redact(pathQuery))
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return fmt.Errorf("wechat: %s %s: %w", method, redact(pathQuery), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("wechat: %s %s: reading answer: %w", method, redact(pathQuery), err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("wechat: %s %s: http status %d", method, redact(pathQuery), resp.StatusCode)
	}
	var status struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(data, &status); err != nil {
		return fmt.Errorf("wechat: %s %s: bad answer: %w", method, redact(pathQuery), err)
	}
	if status.ErrCode != 0 {
		return &APIError{Code: status.ErrCode, Msg: status.ErrMsg}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("wechat: %s %s: bad answer: %w", method, redact(pathQuery), err)
		}
	}
	return nil
}

// redact returns the path of pathQuery without its query, where the token
// and the secret travel.
func redact(pathQuery string) string {
	p, _, _ := strings.Cut(pathQuery, "?")
	return p
}
