package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline12367/hotline/protocol"
	"github.com/hotline12367/hotline/server"
	"github.com/hotline12367/hotline/wechat"
	"github.com/hotline12367/hotline/wechat/wechattest"
)

const (
	wxToken  = "AAAAA"
	wxAESKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	wxAppID  = "wxba5fad812f8e6fb9"
)

// wechatServer is a real server with the WeChat bridge, talking to a local fake of WeChat's API.
type wechatServer struct {
	*testServer
	fake *wechattest.Fake
	push wechattest.Push
	clk  *clock
	mu   sync.Mutex
	n    int
}

func startWeChat(t *testing.T) *wechatServer {
	t.Helper()
	clk := newClock()
	fake := wechattest.NewFake(wechattest.FakeConfig{AppID: wxAppID, Secret: "s3cret", Now: clk.Now, Quota: 20})
	// Cleanups run last-registered first: this one runs after the servers are gone.
	t.Cleanup(func() {
		fake.Client().CloseIdleConnections()
		http.DefaultClient.CloseIdleConnections()
	})
	t.Cleanup(fake.Close)
	var handler *wechat.Handler
	setup := func(srv *server.Server) {
		cl, err := wechat.NewClient(wechat.ClientConfig{API: fake.URL(), AppID: wxAppID, Secret: "s3cret", HTTPClient: fake.Client(),
			Now: clk.Now, Sleep: func(context.Context, time.Duration) error { return nil }})
		if err != nil {
			t.Fatal(err)
		}
		srv.AddChannel("wechat", wechat.Sender{Client: cl})
		handler, err = wechat.NewHandler(wechat.HandlerConfig{Token: wxToken, AESKey: wxAESKey, AppID: wxAppID,
			Deliver: wechat.Bridge(func(ctx context.Context, userID, msgID, kind, text string) error {
				return srv.ChannelMessage(ctx, "wechat", userID, msgID, kind, text)
			})})
		if err != nil {
			t.Fatal(err)
		}
		srv.Handle("/wechat/callback", handler)
		t.Cleanup(func() { handler.Close() })
	}
	s := startServerWith(t, testConfig(), clk.Now, setup)
	return &wechatServer{testServer: s, fake: fake, clk: clk,
		push: wechattest.Push{Token: wxToken, AESKey: wxAESKey, AppID: wxAppID, URL: s.ts.URL + "/wechat/callback"}}
}

// send pushes a text message from a user (safe mode, JSON unless xml) and returns the status.
func (w *wechatServer) send(t *testing.T, user, msgID, text string, xml bool) int {
	t.Helper()
	w.fake.UserMessaged(user, w.clk.Now())
	f := wechat.FormatJSON
	if xml {
		f = wechat.FormatXML
	}
	req := w.push.Request(wechat.Message{ToUserName: "gh_test", FromUserName: user, CreateTime: w.clk.Now().Unix(),
		MsgType: wechat.MsgTypeText, Content: text, MsgID: msgID}, f, true)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// sent waits until the fake has accepted n messages in all and returns them.
func (w *wechatServer) sent(t *testing.T, n int) []wechattest.SentMessage {
	t.Helper()
	ms, err := w.fake.WaitSent(n, waitTime)
	if err != nil {
		t.Fatalf("waiting for %d messages at WeChat: %v (got %d)", n, err, len(w.fake.Sent()))
	}
	return ms
}

func TestWeChatAnswersInTheAskersLanguageOncePerMsgID(t *testing.T) {
	w := startWeChat(t)
	if got := w.send(t, "o-fr", "1001", "Combien de ports pour le transit sans visa de 144 heures ?", false); got != http.StatusOK {
		t.Fatalf("push: got %d, want 200", got)
	}
	w.send(t, "o-fr", "1001", "Combien de ports pour le transit sans visa de 144 heures ?", false) // WeChat's retry
	w.send(t, "o-zh", "2001", "五星卡有什么用？", true)
	ms := w.sent(t, 2)
	var fr, zh []string
	for _, m := range ms {
		switch m.ToUser {
		case "o-fr":
			fr = append(fr, m.Content)
		case "o-zh":
			zh = append(zh, m.Content)
		}
	}
	if len(fr) != 1 || fr[0] != answerText(t, "transit-144h", "fr") {
		t.Errorf("French user got %q, want one French answer about 144-hour transit", fr)
	}
	if len(zh) != 1 || !strings.Contains(zh[0], "五星卡") {
		t.Errorf("Chinese user got %q, want one Chinese answer about the five-star card", zh)
	}
	// The retry never produced a second answer, even after the rest went through.
	w.send(t, "o-fr", "1002", "merci", false)
	if ms := w.sent(t, 3); len(ms) != 3 {
		t.Errorf("after a retry and a new message: got %d messages, want 3", len(ms))
	}
}

func TestWeChatRefusesBadPushes(t *testing.T) {
	w := startWeChat(t)
	good := func() *http.Request {
		return w.push.Request(wechat.Message{ToUserName: "gh", FromUserName: "o-x", CreateTime: 1714112445,
			MsgType: wechat.MsgTypeText, Content: "hello", MsgID: "9"}, wechat.FormatJSON, true)
	}
	req := good()
	q := req.URL.Query()
	q.Set("msg_signature", strings.Repeat("0", 40))
	req.URL.RawQuery = q.Encode()
	if got := status(t, req); got != http.StatusForbidden {
		t.Errorf("wrong signature: got %d, want 403", got)
	}
	req = good()
	q = req.URL.Query()
	q.Del("msg_signature")
	q.Del("signature")
	req.URL.RawQuery = q.Encode()
	if got := status(t, req); got != http.StatusForbidden {
		t.Errorf("no signature: got %d, want 403", got)
	}
	// A tampered ciphertext, signed again so that only the decryption can tell: 400.
	tampered := w.push.Request(wechat.Message{ToUserName: "gh", FromUserName: "o-x", CreateTime: 1714112446,
		MsgType: wechat.MsgTypeText, Content: "hello again", MsgID: "10"}, wechat.FormatXML, true)
	body, _ := io.ReadAll(tampered.Body)
	enc := string(body)
	i := strings.Index(enc, "<Encrypt><![CDATA[") + len("<Encrypt><![CDATA[")
	flip := "A"
	if enc[i+10] == 'A' {
		flip = "B"
	}
	enc = enc[:i+10] + flip + enc[i+11:]
	ct := enc[i : i+strings.Index(enc[i:], "]]>")]
	q = tampered.URL.Query()
	q.Set("msg_signature", wechat.Signature(wxToken, q.Get("timestamp"), q.Get("nonce"), ct))
	req, _ = http.NewRequest("POST", w.push.URL+"?"+q.Encode(), strings.NewReader(enc))
	req.Header.Set("Content-Type", "text/xml")
	if got := status(t, req); got != http.StatusBadRequest {
		t.Errorf("tampered ciphertext: got %d, want 400", got)
	}
	if n := len(w.fake.Attempts()); n != 0 {
		t.Errorf("refused pushes made %d sends, want none", n)
	}
	// Without a token the bridge is off: 404.
	plain := startServer(t, testConfig(), nil)
	plain.srv.Handle("/wechat/callback", http.NotFoundHandler())
	req, _ = http.NewRequest("GET", plain.ts.URL+"/wechat/callback?echostr=1", nil)
	if got := status(t, req); got != http.StatusNotFound {
		t.Errorf("bridge off: got %d, want 404", got)
	}
}

func status(t *testing.T, req *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestWeChatHandoffToAgentAndTokenRefresh(t *testing.T) {
	w := startWeChat(t)
	w.addAgent(t, "a1", "ann", "agent", "zh", "en")
	_, cookie, _ := w.login(t, "ann", agentPassword)
	agent, _, err := w.dialAgent(t, cookie, "")
	if err != nil {
		t.Fatal(err)
	}
	w.send(t, "o-1", "3001", "我在北京丢了钱包怎么办？", false)
	st := agent.until("a WeChat conversation in the queue", func(f protocol.ConsoleFrame) bool {
		return f.Type == "state" && len(f.State.Queue) == 1 && f.State.Queue[0].Channel == "wechat"
	}).State
	id := st.Queue[0].ConversationID
	before := len(w.sent(t, 1))
	agent.send(protocol.AgentFrame{Type: protocol.AgentClaim, ConversationID: id})
	agent.until("history", func(f protocol.ConsoleFrame) bool { return f.Type == "history" })
	w.fake.ExpireTokens() // the next send needs a new token
	agent.send(protocol.AgentFrame{Type: protocol.AgentReply, ConversationID: id, ID: "r1", Text: "您好，请拨打110报警。"})
	found := false
	deadline := time.Now().Add(waitTime)
	for !found && time.Now().Before(deadline) {
		for _, m := range w.sent(t, before+1) {
			found = found || m.ToUser == "o-1" && m.Content == "您好，请拨打110报警。"
		}
		if !found {
			before++
		}
	}
	if !found {
		t.Fatalf("the agent's reply never reached WeChat: %+v", w.fake.Sent())
	}
	if got := w.fake.TokenRequests(); got < 2 {
		t.Errorf("token requests: got %d, want a refresh after expiry", got)
	}
	// 49 hours later the user is outside the 48-hour window: the reply is refused (45015), not
	// retried in a loop, and the agent sees why.
	w.clk.Advance(49 * time.Hour)
	attempts := len(w.fake.Attempts())
	agent.send(protocol.AgentFrame{Type: protocol.AgentReply, ConversationID: id, ID: "r2", Text: "还在吗？"})
	agent.until("delivery failure", func(f protocol.ConsoleFrame) bool {
		return f.Type == "event" && f.Message != nil && f.Message.Event == protocol.EventDeliveryFail && f.Message.Text == "outside_window"
	})
	if got := len(w.fake.Attempts()) - attempts; got != 1 {
		t.Errorf("sends outside the window: got %d attempts, want 1", got)
	}
}

// A WeChat user's conversation cannot be read or written over the visitor WebSocket by anyone
// who knows (or guesses) the openid.
func TestWeChatConversationNotResumable(t *testing.T) {
	w := startWeChat(t)
	w.send(t, "o-secret", "5001", "五星卡有什么用？", false)
	w.sent(t, 1)
	for _, token := range []string{"wechat:o-secret", "channel\x00wechat\x00o-secret", "o-secret"} {
		c := dialRaw(t, w.wsURL(), nil)
		c.write(protocol.ClientFrame{Type: protocol.TypeHello, ResumeToken: token})
		wf := c.until("welcome", func(f protocol.ServerFrame) bool { return f.Type == protocol.TypeWelcome })
		if wf.Resumed {
			t.Errorf("token %q resumed the WeChat user's conversation", token)
		}
		for _, m := range wf.Messages {
			if strings.Contains(m.Text, "五星卡") {
				t.Errorf("token %q: the welcome shows the WeChat user's messages", token)
			}
		}
	}
}
