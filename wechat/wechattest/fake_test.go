package wechattest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline12367/hotline/wechat"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

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

// call makes one raw API call to f and returns the errcode and the answer.
func call(t *testing.T, f *Fake, method, path string, q url.Values, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, f.URL()+path+"?"+q.Encode(), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("answer %s: %v", b, err)
	}
	code, _ := out["errcode"].(float64)
	return int(code), out
}

func token(t *testing.T, f *Fake) string {
	t.Helper()
	code, out := call(t, f, http.MethodGet, "/cgi-bin/token", url.Values{"grant_type": {"client_credential"}, "appid": {"wxfake"}, "secret": {"fakesecret"}}, "")
	tok, _ := out["access_token"].(string)
	if code != 0 || tok == "" {
		t.Fatalf("token: got %v", out)
	}
	return tok
}

func send(t *testing.T, f *Fake, tok, to, content string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"touser": to, "msgtype": "text", "text": map[string]string{"content": content}})
	code, _ := call(t, f, http.MethodPost, "/cgi-bin/message/custom/send", url.Values{"access_token": {tok}}, string(body))
	return code
}

func TestFakeToken(t *testing.T) {
	c := &clock{t: time.Unix(1714112445, 0)}
	f := NewFake(FakeConfig{ExpiresIn: time.Hour, Now: c.Now})
	defer f.Close()
	f.UserMessaged("u", c.Now())

	tests := []struct {
		name string
		q    url.Values
		want int
	}{
		{"wrong grant", url.Values{"grant_type": {"x"}, "appid": {"wxfake"}, "secret": {"fakesecret"}}, 40002},
		{"wrong appid", url.Values{"grant_type": {"client_credential"}, "appid": {"wx"}, "secret": {"fakesecret"}}, 40013},
		{"wrong secret", url.Values{"grant_type": {"client_credential"}, "appid": {"wxfake"}, "secret": {"x"}}, 40125},
	}
	for _, tt := range tests {
		if code, _ := call(t, f, http.MethodGet, "/cgi-bin/token", tt.q, ""); code != tt.want {
			t.Errorf("%s: got errcode %d, want %d", tt.name, code, tt.want)
		}
	}

	_, out := call(t, f, http.MethodGet, "/cgi-bin/token", url.Values{"grant_type": {"client_credential"}, "appid": {"wxfake"}, "secret": {"fakesecret"}}, "")
	if out["expires_in"] != float64(3600) {
		t.Errorf("got expires_in %v, want 3600", out["expires_in"])
	}
	old := out["access_token"].(string)
	if code := send(t, f, "made-up", "u", "hi"); code != 40001 {
		t.Errorf("unknown token: got %d, want 40001", code)
	}
	if code := send(t, f, "", "u", "hi"); code != 41001 {
		t.Errorf("no token: got %d, want 41001", code)
	}
	if code := send(t, f, old, "u", "hi"); code != 0 {
		t.Errorf("valid token: got %d, want 0", code)
	}

	// A new token leaves the old one 5 minutes.
	c.Advance(time.Minute)
	fresh := token(t, f)
	c.Advance(5*time.Minute - time.Second)
	if code := send(t, f, old, "u", "hi"); code != 0 {
		t.Errorf("old token within 5 minutes of a new one: got %d, want 0", code)
	}
	c.Advance(time.Second)
	if code := send(t, f, old, "u", "hi"); code != 42001 {
		t.Errorf("old token after 5 minutes: got %d, want 42001", code)
	}
	if code := send(t, f, fresh, "u", "hi"); code != 0 {
		t.Errorf("new token: got %d, want 0", code)
	}
	c.Advance(time.Hour)
	if code := send(t, f, fresh, "u", "hi"); code != 42001 {
		t.Errorf("token after expires_in: got %d, want 42001", code)
	}
	fresh = token(t, f)
	f.ExpireTokens()
	if code := send(t, f, fresh, "u", "hi"); code != 40001 {
		t.Errorf("after ExpireTokens: got %d, want 40001", code)
	}
	if got := f.TokenRequests(); got != 3 {
		t.Errorf("got %d tokens issued, want 3", got)
	}
}

func TestFakeSendRules(t *testing.T) {
	c := &clock{t: time.Unix(1714112445, 0)}
	f := NewFake(FakeConfig{Quota: 2, MaxTextBytes: 10, Now: c.Now})
	defer f.Close()
	tok := token(t, f)
	f.UserMessaged("u", c.Now())

	steps := []struct {
		name    string
		advance time.Duration
		to      string
		content string
		want    int
	}{
		{"never wrote", 0, "stranger", "hi", 45015},
		{"too long", 0, "u", "12345678901", 45002},
		{"empty", 0, "u", "", 44003},
		{"no user", 0, "", "hi", 40003},
		{"first", 0, "u", "1", 0},
		{"second", 0, "u", "2", 0},
		{"over quota", 0, "u", "3", 45047},
		{"window closes", 48*time.Hour + time.Second, "u", "4", 45015},
	}
	for _, s := range steps {
		if s.advance > 0 {
			c.Advance(s.advance)
			tok = token(t, f)
		}
		if code := send(t, f, tok, s.to, s.content); code != s.want {
			t.Errorf("%s: got %d, want %d", s.name, code, s.want)
		}
	}
	f.UserMessaged("u", c.Now())
	tok = token(t, f)
	if code := send(t, f, tok, "u", "5"); code != 0 {
		t.Errorf("after the user wrote again: got %d, want 0", code)
	}
	f.FailNext(2, -1)
	for i := range 2 {
		if code := send(t, f, tok, "u", "x"); code != -1 {
			t.Errorf("FailNext %d: got %d, want -1", i, code)
		}
	}
	if code := send(t, f, tok, "u", "6"); code != 0 {
		t.Errorf("after FailNext: got %d, want 0", code)
	}

	var contents []string
	for _, m := range f.Sent() {
		contents = append(contents, m.Content)
	}
	if got := strings.Join(contents, ","); got != "1,2,5,6" {
		t.Errorf("got sent %s, want 1,2,5,6", got)
	}
	if got := len(f.Attempts()); got != len(steps)+4 {
		t.Errorf("got %d attempts, want %d", got, len(steps)+4)
	}
}

func TestFakeWaitSent(t *testing.T) {
	f := NewFake(FakeConfig{})
	defer f.Close()
	tok := token(t, f)
	f.UserMessaged("u", time.Now())

	if _, err := f.WaitSent(1, 0); !errors.Is(err, ErrTimeout) {
		t.Errorf("nothing sent: got %v, want ErrTimeout", err)
	}
	done := make(chan []SentMessage)
	go func() {
		got, err := f.WaitSent(3, time.Minute)
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	for _, s := range []string{"a", "b", "c"} {
		send(t, f, tok, "u", s)
	}
	if got := <-done; len(got) != 3 || got[2].Content != "c" {
		t.Errorf("got %+v, want a, b, c", got)
	}
}

func TestFakeTyping(t *testing.T) {
	f := NewFake(FakeConfig{})
	defer f.Close()
	tok := token(t, f)
	f.UserMessaged("u", time.Now())
	for _, path := range []string{"/cgi-bin/message/custom/typing", "/cgi-bin/message/custom/business/typing"} {
		if code, _ := call(t, f, http.MethodPost, path, url.Values{"access_token": {tok}}, `{"touser":"u","command":"Typing"}`); code != 0 {
			t.Errorf("%s: got %d, want 0", path, code)
		}
	}
	if code, _ := call(t, f, http.MethodPost, "/cgi-bin/message/custom/typing", url.Values{"access_token": {tok}}, `{"touser":"u","command":"Dance"}`); code == 0 {
		t.Error("unknown command: got 0, want an error")
	}
	if got := len(f.Typing()); got != 3 {
		t.Errorf("got %d typing commands, want 3", got)
	}
}

func TestBodyRoundTrip(t *testing.T) {
	msgs := []wechat.Message{
		{ToUserName: "gh", FromUserName: "u", CreateTime: 1714112445, MsgType: "text", Content: "a ]]> b <c> & \"d\" 退货\n", MsgID: "7385616421349283841"},
		{ToUserName: "gh", FromUserName: "u", CreateTime: 1, MsgType: "image", PicURL: "https://x/y.jpg?a=1&b=2", MediaID: "m", MsgID: "2"},
		{FromUserName: "u", CreateTime: 1, MsgType: "miniprogrampage", MsgID: "not-a-number", Title: "t", AppID: "wx", PagePath: "p", ThumbURL: "h", ThumbMediaID: "tm"},
		{FromUserName: "u", CreateTime: 1, MsgType: "event", Event: "user_enter_tempsession", SessionFrom: "s"},
	}
	for _, m := range msgs {
		for _, f := range []wechat.Format{wechat.FormatXML, wechat.FormatJSON} {
			b := Body(m, f)
			got, err := wechat.ParseMessage(b, "")
			if err != nil {
				t.Fatalf("%s %s: %v", f, b, err)
			}
			if got != m {
				t.Errorf("%s: got %+v, want %+v", f, got, m)
			}
		}
	}
	if b := Body(msgs[0], wechat.FormatJSON); !bytes.Contains(b, []byte(`"MsgId":7385616421349283841`)) {
		t.Errorf("got %s, want MsgId as a JSON number", b)
	}
	if b := Body(msgs[0], wechat.FormatXML); !bytes.Contains(b, []byte("<![CDATA[gh]]>")) {
		t.Errorf("got %s, want CDATA text", b)
	}
}

func TestPushRequest(t *testing.T) {
	p := Push{Token: "AAAAA", AESKey: strings.Repeat("A", 43), AppID: "wxba5fad812f8e6fb9", Timestamp: "1714112445", Nonce: "415670741"}
	m := wechat.Message{ToUserName: "gh_97417a04a28d", FromUserName: "o9Ag", CreateTime: 1714112445, MsgType: "text", Content: "hi", MsgID: "1"}

	r := p.Request(m, wechat.FormatJSON, true)
	q := r.URL.Query()
	if q.Get("signature") != "6c5c811b55cc85e0e1b54100749188c20beb3f5d" {
		t.Errorf("got signature %s, want the vector's", q.Get("signature"))
	}
	if q.Get("encrypt_type") != "aes" || q.Get("openid") != "o9Ag" {
		t.Errorf("got query %v, want encrypt_type=aes and openid", q)
	}
	b, _ := io.ReadAll(r.Body)
	env, err := wechat.ParseEnvelope(b, r.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	if q.Get("msg_signature") != wechat.Signature("AAAAA", "1714112445", "415670741", env.Encrypt) {
		t.Error("got a msg_signature that does not sign the Encrypt field")
	}
	c, _ := wechat.NewCipher(p.AESKey, p.AppID)
	inner, err := c.Decrypt(env.Encrypt)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := wechat.ParseMessage(inner, ""); got != m {
		t.Errorf("got %+v, want %+v", got, m)
	}

	r = Push{Token: "AAAAA"}.Request(m, wechat.FormatXML, false)
	if got := r.URL.Query().Get("timestamp"); got != "1714112445" {
		t.Errorf("got timestamp %s, want the message's CreateTime", got)
	}
	if r.URL.String() != DefaultPushURL+"?"+r.URL.RawQuery {
		t.Errorf("got URL %s, want DefaultPushURL", r.URL)
	}
}
