package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hotline12367/hotline/client"
	"github.com/hotline12367/hotline/protocol"
	"github.com/hotline12367/hotline/server"
)

// isAckOrErrorFor matches the server's verdict on the frame with client id id.
func isAckOrErrorFor(id string) func(protocol.ServerFrame) bool {
	return func(f protocol.ServerFrame) bool {
		return f.Type == protocol.TypeAck && f.ID == id || f.Type == protocol.TypeError && f.Error != nil && f.Error.Ref == id
	}
}

func messageJSON(id, text string) string {
	return fmt.Sprintf(`{"type":"message","id":%q,"text":%q}`, id, text)
}

// ask sends a message and waits for its ack and an answer, in either order.
func (c *rawConn) ask(id, text string) (ack, answer protocol.ServerFrame) {
	c.t.Helper()
	c.writeText(messageJSON(id, text))
	for ack.Type == "" || answer.Type == "" {
		f := c.until("the ack of and the answer to "+id, func(f protocol.ServerFrame) bool {
			return isAckOrErrorFor(id)(f) || client.IsAnswer(f)
		})
		switch {
		case f.Type == protocol.TypeError:
			c.t.Fatalf("message %s: got %s, want an ack and an answer", id, describe([]protocol.ServerFrame{f}))
		case f.Type == protocol.TypeAck:
			ack = f
		default:
			answer = f
		}
	}
	return ack, answer
}

// stillWorks checks that the connection still answers a question.
func (c *rawConn) stillWorks() {
	c.t.Helper()
	c.ask("still-ok", "What is a port visa?")
}

func TestFrameErrors(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	tests := []struct {
		name  string
		frame string
		code  string // "" for an ack
		ref   string
	}{
		{"bad json", `{"type":"message",`, server.CodeBadJSON, ""},
		{"not an object", `[1,2,3]`, server.CodeBadJSON, ""},
		{"binary garbage", "\x00\xff\xfe", server.CodeBadJSON, ""},
		{"no type", `{"id":"x1","text":"hi"}`, server.CodeBadJSON, "x1"},
		{"unknown type", `{"type":"bogus","id":"x2"}`, server.CodeUnknownType, "x2"},
		{"second hello", `{"type":"hello"}`, server.CodeUnknownType, ""},
		{"message without id", `{"type":"message","text":"hi"}`, server.CodeBadJSON, ""},
		{"message id too long", messageJSON(strings.Repeat("i", protocol.MaxIDLength+1), "hi"), server.CodeBadJSON, "*"},
		{"feedback without verdict", `{"type":"feedback","seq":1}`, server.CodeBadJSON, ""},
		{"lang without lang", `{"type":"lang"}`, server.CodeBadJSON, ""},
		{"negative seq", `{"type":"sync","seq":-1}`, server.CodeBadJSON, ""},
		{"empty text", messageJSON("e1", ""), server.CodeEmpty, "e1"},
		{"blank text", messageJSON("e2", " \t\n "), server.CodeEmpty, "e2"},
		{"2001 ASCII characters", messageJSON("l1", strings.Repeat("a", 2001)), server.CodeTooLong, "l1"},
		{"2001 Chinese characters", messageJSON("l2", strings.Repeat("签", 2001)), server.CodeTooLong, "l2"},
		{"2000 characters and spaces around", messageJSON("l3", "  "+strings.Repeat("é", 2000)+"  "), "", "l3"},
		{"2000 Arabic characters", messageJSON("l4", strings.Repeat("ت", 2000)), "", "l4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := dialRaw(t, s.wsURL(), acceptLanguage("en"))
			c.hello(protocol.ClientFrame{})
			c.writeText(tt.frame)
			f := c.until("the verdict", func(f protocol.ServerFrame) bool {
				return f.Type == protocol.TypeError || f.Type == protocol.TypeAck && f.ID == tt.ref
			})
			switch {
			case tt.code == "" && f.Type != protocol.TypeAck:
				t.Fatalf("got %s, want an ack", describe([]protocol.ServerFrame{f}))
			case tt.code != "" && (f.Error == nil || f.Error.Code != tt.code || f.Error.Ref != tt.ref && tt.ref != "*"):
				t.Fatalf("got %s, want error %s with ref %q", describe([]protocol.ServerFrame{f}), tt.code, tt.ref)
			case tt.code != "" && (f.Error.Message == "" || f.Error.Message == tt.code):
				t.Errorf("error message: got %q, want a sentence for the visitor", f.Error.Message)
			}
			c.stillWorks()
		})
	}
}

func TestFrameBeforeHello(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	c := dialRaw(t, s.wsURL(), nil)
	c.writeText(messageJSON("early", "hi"))
	f := c.until("an error", isAckOrErrorFor("early"))
	if f.Type != protocol.TypeError || f.Error.Code != server.CodeHelloRequired {
		t.Fatalf("message before hello: got %s, want error %s", describe([]protocol.ServerFrame{f}), server.CodeHelloRequired)
	}
	if w := c.hello(protocol.ClientFrame{}); w.ConversationID == "" {
		t.Errorf("welcome after the error: got no conversation id")
	}
	c.stillWorks()
}

// A frame over the read limit is refused with too_long and the connection is closed with
// 1009; a frame just under it is only a question too long.
func TestReadLimit(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	const limit = 4*server.MaxQuestionRunes + 1024
	frame := func(size int) string {
		f := messageJSON("big", "")
		return f[:len(f)-2] + strings.Repeat("a", size-len(f)) + `"}`
	}
	tests := []struct {
		name   string
		size   int
		closed bool
	}{
		{"at the limit", limit, false},
		{"one byte over", limit + 1, true},
		{"far over", 10 * limit, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, s.wsURL(), nil)
			c.hello(protocol.ClientFrame{})
			b := frame(tt.size)
			if len(b) != tt.size {
				t.Fatalf("frame: got %d bytes, want %d", len(b), tt.size)
			}
			// The server may close before it has read everything: a failed write is fine.
			_ = c.ws.WriteMessage(websocket.TextMessage, []byte(b))
			if !tt.closed {
				f := c.until("the verdict", isAckOrErrorFor("big"))
				if f.Error == nil || f.Error.Code != server.CodeTooLong {
					t.Fatalf("got %s, want error too_long", describe([]protocol.ServerFrame{f}))
				}
				c.stillWorks()
				return
			}
			ce, frames := c.closed()
			if len(frames) == 0 || frames[len(frames)-1].Error == nil || frames[len(frames)-1].Error.Code != server.CodeTooLong {
				t.Errorf("before the close: got %s, want error too_long last", describe(frames))
			}
			if ce.Code != websocket.CloseMessageTooBig {
				t.Errorf("close code: got %d, want %d", ce.Code, websocket.CloseMessageTooBig)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	cfg := testConfig()
	cfg.MessageRate, cfg.MessageBurst = 0.001, 3 // three messages now, the next in 1000 s
	s := startServer(t, cfg, nil)

	flooder := dialRaw(t, s.wsURL(), acceptLanguage("fr"))
	flooder.hello(protocol.ClientFrame{})
	const sent = 8
	for i := range sent {
		flooder.writeText(messageJSON(fmt.Sprint("f", i), "Qu'est-ce qu'un visa au port d'entrée ?"))
	}

	// Another visitor, meanwhile, is answered as usual.
	other := s.dial(t, &client.Session{}, acceptLanguage("en"))
	for i := range cfg.MessageBurst {
		if _, ans := ask(t, other, fmt.Sprint("o", i), "What is a port visa?"); ans.Message.Answer == nil || ans.Message.Answer.Handoff {
			t.Errorf("other visitor's answer %d: got %+v, want an answer", i, ans.Message.Answer)
		}
	}

	var acked, limited []string
	for len(acked)+len(limited) < sent {
		f := flooder.until("the verdict on each message", func(f protocol.ServerFrame) bool {
			return f.Type == protocol.TypeAck || f.Type == protocol.TypeError
		})
		switch {
		case f.Type == protocol.TypeAck:
			acked = append(acked, f.ID)
		case f.Error.Code == server.CodeRateLimited:
			limited = append(limited, f.Error.Ref)
			if want := catalog.T("fr", "ErrRateLimited", nil); f.Error.Message != want {
				t.Errorf("rate_limited message: got %q, want %q", f.Error.Message, want)
			}
		default:
			t.Fatalf("got %s, want an ack or rate_limited", describe([]protocol.ServerFrame{f}))
		}
	}
	if got, want := strings.Join(acked, " "), "f0 f1 f2"; got != want {
		t.Errorf("acked: got %q, want %q", got, want)
	}
	if got, want := strings.Join(limited, " "), "f3 f4 f5 f6 f7"; got != want {
		t.Errorf("rate limited: got %q, want %q", got, want)
	}
}

// A client that goes on sending into the limit is disconnected.
func TestRateLimitStrikesClose(t *testing.T) {
	cfg := testConfig()
	cfg.MessageRate, cfg.MessageBurst = 0.001, 1
	s := startServer(t, cfg, nil)
	c := dialRaw(t, s.wsURL(), nil)
	c.hello(protocol.ClientFrame{})
	for i := range 30 {
		if err := c.ws.WriteMessage(websocket.TextMessage, []byte(messageJSON(fmt.Sprint("s", i), "hi"))); err != nil {
			break // the server may close before all are written
		}
	}
	ce, frames := c.closed()
	limited := 0
	for _, f := range frames {
		if f.Error != nil && f.Error.Code == server.CodeRateLimited {
			limited++
		}
	}
	if ce.Code != websocket.ClosePolicyViolation || ce.Text != server.CodeRateLimited {
		t.Errorf("close: got %d %q, want %d %q", ce.Code, ce.Text, websocket.ClosePolicyViolation, server.CodeRateLimited)
	}
	if limited < 20 {
		t.Errorf("rate_limited errors before the close: got %d, want at least 20", limited)
	}
}

func TestMaxConnsPerIP(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConnsPerIP = 2
	s := startServer(t, cfg, nil)
	first := s.dial(t, &client.Session{}, nil)
	second := s.dial(t, &client.Session{}, nil)

	third := dialRaw(t, s.wsURL(), acceptLanguage("ar"))
	third.refused("ar", server.CodeTooManyConnections, "ErrTooManyConnections", websocket.ClosePolicyViolation)

	for i, c := range []*client.Conn{first, second} {
		if _, ans := ask(t, c, "q", "What is a port visa?"); ans.Message.Answer == nil {
			t.Errorf("connection %d after the refusal: got no answer", i+1)
		}
	}
}

// Past the server's connection cap (set under the open-files limit) a visitor is told, in
// their language, to come back soon (close 1013), and those connected go on; once one leaves,
// a new one gets in (the first leaves without a close frame: a dropped connection frees its
// place at once).
func TestMaxConns(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConns = 2
	s := startServer(t, cfg, nil)
	first := s.dial(t, &client.Session{}, nil)
	second := s.dial(t, &client.Session{}, nil)

	third := dialRaw(t, s.wsURL(), acceptLanguage("ru"))
	third.refused("ru", server.CodeServerBusy, "ErrServerBusy", websocket.CloseTryAgainLater)
	if _, ans := ask(t, second, "q", "What is a port visa?"); ans.Message.Answer == nil {
		t.Error("a connection after the refusal got no answer")
	}
	first.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := client.Dial(context.Background(), s.wsURL(), &client.Session{}, client.Options{})
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no room after a visitor left: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOrigins(t *testing.T) {
	tests := []struct {
		name    string
		allowed []string
		origin  string
		ok      bool
	}{
		{"no Origin header", []string{"https://widget.example"}, "", true},
		{"listed", []string{"https://widget.example", "https://other.example"}, "https://other.example", true},
		{"not listed", []string{"https://widget.example"}, "https://evil.example", false},
		{"other scheme", []string{"https://widget.example"}, "http://widget.example", false},
		{"other port", []string{"https://widget.example"}, "https://widget.example:8443", false},
		{"suffix of a listed host", []string{"https://widget.example"}, "https://widget.example.evil.example", false},
		{"null", []string{"https://widget.example"}, "null", false},
		{"any", []string{"*"}, "https://anywhere.example", true},
		{"own host", nil, "SELF", true},
		{"empty list, another host", nil, "https://widget.example", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Origins = tt.allowed
			s := startServer(t, cfg, nil)
			h := http.Header{"Accept-Language": {"fr"}}
			switch tt.origin {
			case "":
			case "SELF":
				h.Set("Origin", s.ts.URL)
			default:
				h.Set("Origin", tt.origin)
			}
			c := dialRaw(t, s.wsURL(), h)
			if tt.ok {
				if w := c.hello(protocol.ClientFrame{}); w.ConversationID == "" {
					t.Errorf("welcome: got no conversation")
				}
				return
			}
			c.refused("fr", server.CodeOriginNotAllowed, "ErrOriginNotAllowed", websocket.ClosePolicyViolation)
		})
	}
}

func TestUnsupportedLanguage(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	t.Run("hello", func(t *testing.T) {
		for _, lang := range []string{"de", "ja-JP", "not a tag!"} {
			c := dialRaw(t, s.wsURL(), acceptLanguage("ar"))
			c.write(protocol.ClientFrame{Type: protocol.TypeHello, Lang: lang})
			f := c.until("an error", func(f protocol.ServerFrame) bool { return f.Type != protocol.TypeMessage })
			if f.Error == nil || f.Error.Code != server.CodeUnsupportedLang {
				t.Fatalf("hello lang %q: got %s, want error unsupported_language", lang, describe([]protocol.ServerFrame{f}))
			}
			if want := catalog.T("ar", "ErrUnsupportedLang", nil); f.Error.Message != want {
				t.Errorf("hello lang %q: got message %q, want the Arabic %q", lang, f.Error.Message, want)
			}
			// The conversation starts anyway, in the browser's language.
			w := c.until("the welcome", func(f protocol.ServerFrame) bool { return f.Type == protocol.TypeWelcome })
			if w.Lang != "ar" || w.LangChosen {
				t.Errorf("hello lang %q: got welcome lang %q chosen=%v, want ar not chosen", lang, w.Lang, w.LangChosen)
			}
		}
	})
	t.Run("lang frame", func(t *testing.T) {
		c := dialRaw(t, s.wsURL(), acceptLanguage("es"))
		w := c.hello(protocol.ClientFrame{})
		for _, lang := range []string{"de", "klingon", "zz-ZZ"} {
			c.write(protocol.ClientFrame{Type: protocol.TypeLang, Lang: lang})
			f := c.until("an error", func(f protocol.ServerFrame) bool { return f.Type == protocol.TypeError || f.Type == protocol.TypeEvent })
			if f.Error == nil || f.Error.Code != server.CodeUnsupportedLang {
				t.Fatalf("lang %q: got %s, want error unsupported_language", lang, describe([]protocol.ServerFrame{f}))
			}
			if want := catalog.T("es", "ErrUnsupportedLang", nil); f.Error.Message != want {
				t.Errorf("lang %q: got message %q, want the Spanish %q", lang, f.Error.Message, want)
			}
		}
		// Nothing was stored: the next message takes the next seq.
		c.writeText(messageJSON("n1", "¿Qué es un visado en puerto?"))
		f := c.until("the ack", isAckOrErrorFor("n1"))
		if f.Type != protocol.TypeAck || f.Seq != w.Seq+1 {
			t.Errorf("next message: got %s, want an ack with seq %d", describe([]protocol.ServerFrame{f}), w.Seq+1)
		}
	})
}

// Every error a visitor sees is a sentence in their language.
func TestErrorsInVisitorLanguage(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	frames := []struct {
		code, frame string
	}{
		{server.CodeBadJSON, `{"type":`},
		{server.CodeUnknownType, `{"type":"bogus"}`},
		{server.CodeEmpty, messageJSON("e", " ")},
		{server.CodeTooLong, messageJSON("l", strings.Repeat("x", 2001))},
		{server.CodeNotFound, `{"type":"feedback","seq":999,"helpful":true}`},
	}
	got := map[string]map[string]string{} // lang -> code -> message
	for _, lang := range []string{"en", "fr", "ar", "zh", "ru", "es"} {
		got[lang] = map[string]string{}
		c := dialRaw(t, s.wsURL(), acceptLanguage(lang))
		c.hello(protocol.ClientFrame{})
		for _, fr := range frames {
			c.writeText(fr.frame)
			f := c.until(fr.code, func(f protocol.ServerFrame) bool { return f.Type == protocol.TypeError })
			if f.Error.Code != fr.code {
				t.Fatalf("%s: got %s, want error %s", lang, describe([]protocol.ServerFrame{f}), fr.code)
			}
			got[lang][fr.code] = f.Error.Message
		}
	}
	for lang, msgs := range got {
		for code, msg := range msgs {
			if msg == "" || strings.HasPrefix(msg, "Err") {
				t.Errorf("%s %s: got %q, want a sentence", lang, code, msg)
			}
			if lang != "en" && msg == got["en"][code] {
				t.Errorf("%s %s: got the English %q, want a translation", lang, code, msg)
			}
		}
	}
	if m := got["fr"][server.CodeTooLong]; !strings.Contains(m, "2000") && !strings.Contains(m, "2 000") {
		t.Errorf("fr too_long: got %q, want the limit 2000 in it", m)
	}
}

// A client that pings while it asks gets its pongs and its answers: gorilla's reader writes the
// pongs, through the socket the writer gathers frames in.
func TestPingsWhileAsking(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	c := dialRaw(t, s.wsURL(), nil)
	c.hello(protocol.ClientFrame{Type: protocol.TypeHello})
	pongs := make(chan struct{}, 100)
	c.ws.SetPongHandler(func(string) error { pongs <- struct{}{}; return nil })
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = c.ws.WriteControl(websocket.PingMessage, []byte("p"), time.Now().Add(time.Second))
			time.Sleep(time.Millisecond)
		}
	}()
	for i := range 20 {
		id := fmt.Sprint("q", i)
		c.write(protocol.ClientFrame{Type: protocol.TypeMessage, ID: id, Text: "What is a port visa?"})
		c.until("the answer to "+id, func(f protocol.ServerFrame) bool {
			return f.Type == protocol.TypeMessage && f.Message != nil && f.Message.From == protocol.FromBot
		})
	}
	close(stop)
	<-done
	if len(pongs) == 0 {
		t.Error("no pong came back")
	}
}

// refused checks a connection refused on connect: one error frame with code, its message in
// lang (messageID in locales/), then a close with closeCode and code as the reason.
func (c *rawConn) refused(lang, code, messageID string, closeCode int) {
	c.t.Helper()
	ce, frames := c.closed()
	if len(frames) != 1 || frames[0].Error == nil || frames[0].Error.Code != code {
		c.t.Fatalf("got %s, want one error %s", describe(frames), code)
	}
	if want := catalog.T(lang, messageID, nil); frames[0].Error.Message != want {
		c.t.Errorf("message: got %q, want the %s %q", frames[0].Error.Message, lang, want)
	}
	if ce.Code != closeCode || ce.Text != code {
		c.t.Errorf("close: got %d %q, want %d %q", ce.Code, ce.Text, closeCode, code)
	}
}
