package wechat

import (
	"errors"
	"strings"
	"testing"
)

const (
	xmlText = `<xml>
  <ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>
  <FromUserName><![CDATA[o9AgO5Kd5ggOC-bXrbNODIiE3bGY]]></FromUserName>
  <CreateTime>1714112445</CreateTime>
  <MsgType><![CDATA[text]]></MsgType>
  <Content><![CDATA[退货怎么办? <a href="x">&amp;</a>]]></Content>
  <MsgId>7385616421349283841</MsgId>
</xml>`
	jsonText = `{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714112445,"MsgType":"text","Content":"退货怎么办? <a href=\"x\">&amp;</a>","MsgId":7385616421349283841}`
)

var wantText = Message{
	ToUserName:   "gh_97417a04a28d",
	FromUserName: "o9AgO5Kd5ggOC-bXrbNODIiE3bGY",
	CreateTime:   1714112445,
	MsgType:      "text",
	Content:      `退货怎么办? <a href="x">&amp;</a>`,
	MsgID:        "7385616421349283841",
}

func TestParseMessage(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		ctype string
		want  Message
	}{
		{"xml text", xmlText, "text/xml", wantText},
		{"json text", jsonText, "application/json", wantText},
		{"xml sniffed despite content type", xmlText, "application/json", wantText},
		{"json sniffed without content type", "\n  " + jsonText, "", wantText},
		{"json with byte order mark", "\xef\xbb\xbf" + jsonText, "", wantText},
		{
			"json strings for numbers",
			`{"FromUserName":"u","CreateTime":"1714112445","MsgType":"text","Content":"hi","MsgId":"7385616421349283841"}`,
			"application/json",
			Message{FromUserName: "u", CreateTime: 1714112445, MsgType: "text", Content: "hi", MsgID: "7385616421349283841"},
		},
		{
			"json null and missing",
			`{"FromUserName":"u","CreateTime":null,"MsgId":null}`,
			"",
			Message{FromUserName: "u"},
		},
		{
			"xml padded numbers",
			"<xml><CreateTime> 1714112445 </CreateTime><MsgId>\n42\n</MsgId></xml>",
			"",
			Message{CreateTime: 1714112445, MsgID: "42"},
		},
		{
			"xml image",
			`<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUserName><![CDATA[u]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[https://p/x.jpg]]></PicUrl><MediaId><![CDATA[m1]]></MediaId><MsgId>7</MsgId></xml>`,
			"",
			Message{ToUserName: "gh", FromUserName: "u", CreateTime: 1, MsgType: "image", PicURL: "https://p/x.jpg", MediaID: "m1", MsgID: "7"},
		},
		{
			"json miniprogrampage",
			`{"FromUserName":"u","CreateTime":2,"MsgType":"miniprogrampage","MsgId":8,"Title":"T","AppId":"wx1","PagePath":"pages/a","ThumbUrl":"https://t","ThumbMediaId":"tm"}`,
			"",
			Message{FromUserName: "u", CreateTime: 2, MsgType: "miniprogrampage", MsgID: "8", Title: "T", AppID: "wx1", PagePath: "pages/a", ThumbURL: "https://t", ThumbMediaID: "tm"},
		},
		{
			"xml enter session event",
			`<xml><FromUserName>u</FromUserName><CreateTime>3</CreateTime><MsgType>event</MsgType><Event>user_enter_tempsession</Event><SessionFrom>faq</SessionFrom></xml>`,
			"",
			Message{FromUserName: "u", CreateTime: 3, MsgType: "event", Event: "user_enter_tempsession", SessionFrom: "faq"},
		},
		{
			"unknown fields ignored",
			`{"FromUserName":"u","debug_str":"hello","Nested":{"a":[1,2]}}`,
			"",
			Message{FromUserName: "u"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMessage([]byte(tt.body), tt.ctype)
			if err != nil {
				t.Fatalf("ParseMessage: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseMessageRejects(t *testing.T) {
	big := `{"Content":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	tests := []struct {
		name string
		body string
		want error
	}{
		{"empty", "", ErrMalformed},
		{"blank", "  \n", ErrMalformed},
		{"neither", "hello", ErrMalformed},
		{"broken json", `{"MsgType":`, ErrMalformed},
		{"broken xml", `<xml><MsgType>text</xml>`, ErrMalformed},
		{"bool MsgId", `{"MsgId":true}`, ErrMalformed},
		{"object CreateTime", `{"CreateTime":{}}`, ErrMalformed},
		{"word CreateTime", `<xml><CreateTime>yesterday</CreateTime></xml>`, ErrMalformed},
		{"float CreateTime", `{"CreateTime":1.5}`, ErrMalformed},
		{"number Content", `{"Content":5}`, ErrMalformed},
		{"too large", big, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMessage([]byte(tt.body), "")
			if !errors.Is(err, tt.want) {
				t.Errorf("got %+v, %v, want %v", got, err, tt.want)
			}
		})
	}
}

func TestParseEnvelope(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    Envelope
		wantErr error
	}{
		{
			"json",
			`{"ToUserName":"gh_97417a04a28d","Encrypt":"` + vecSafeEncrypt + `"}`,
			Envelope{ToUserName: "gh_97417a04a28d", Encrypt: vecSafeEncrypt},
			nil,
		},
		{
			"xml",
			"<xml>\n<ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\n<Encrypt><![CDATA[" + vecSafeEncrypt + "]]></Encrypt>\n</xml>",
			Envelope{ToUserName: "gh_97417a04a28d", Encrypt: vecSafeEncrypt},
			nil,
		},
		{"no Encrypt", `{"ToUserName":"gh","MsgType":"text"}`, Envelope{}, ErrMalformed},
		{"malformed", `<xml><Encrypt>`, Envelope{}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEnvelope([]byte(tt.body), "")
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("got %+v, %v, want %+v, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestDecryptedVectorParses(t *testing.T) {
	inner, err := vecCipher(t).Decrypt(vecSafeEncrypt)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseMessage(inner, "application/json")
	if err != nil {
		t.Fatal(err)
	}
	want := Message{ToUserName: "gh_97417a04a28d", FromUserName: "o9AgO5Kd5ggOC-bXrbNODIiE3bGY", CreateTime: 1714112445, MsgType: "event", Event: "debug_demo"}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestDetectFormat(t *testing.T) {
	tests := []struct {
		body, ctype string
		want        Format
	}{
		{"<xml/>", "", FormatXML},
		{" {}", "", FormatJSON},
		{"", "application/json; charset=utf-8", FormatJSON},
		{"", "text/xml", FormatXML},
		{"", "application/xml", FormatXML},
		{"x", "text/plain", 0},
		{"", "", 0},
	}
	for _, tt := range tests {
		if got := DetectFormat([]byte(tt.body), tt.ctype); got != tt.want {
			t.Errorf("DetectFormat(%q, %q): got %v, want %v", tt.body, tt.ctype, got, tt.want)
		}
	}
}

func TestDedupKey(t *testing.T) {
	tests := []struct {
		name string
		m    Message
		want string
	}{
		{"message", Message{FromUserName: "u", CreateTime: 5, MsgID: "42"}, "msg:42"},
		{"event", Message{FromUserName: "u", CreateTime: 5, MsgType: "event", Event: "user_enter_tempsession"}, "ev:u|5|user_enter_tempsession"},
		{"events differ by event", Message{FromUserName: "u", CreateTime: 5, Event: "other"}, "ev:u|5|other"},
		{"no id, no event", Message{FromUserName: "u", CreateTime: 5}, "ev:u|5|"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.DedupKey(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzParseXML(f *testing.F) {
	f.Add([]byte(xmlText))
	f.Add([]byte("<xml><ToUserName>gh</ToUserName><Encrypt>" + vecSafeEncrypt + "</Encrypt></xml>"))
	f.Add([]byte(`<xml><CreateTime>x</CreateTime></xml>`))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Content>&a;</Content></xml>`))
	f.Add([]byte(`<a><b><c><d></d></c></b></a>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := ParseXML(body)
		if err != nil {
			if m != (Message{}) {
				t.Errorf("got %+v with error %v, want the zero Message", m, err)
			}
			return
		}
		_ = m.DedupKey()
		_, _ = ParseEnvelope(body, "text/xml")
	})
}

func FuzzParseJSON(f *testing.F) {
	f.Add([]byte(jsonText))
	f.Add([]byte(`{"ToUserName":"gh","Encrypt":"` + vecSafeEncrypt + `"}`))
	f.Add([]byte(`{"CreateTime":"1","MsgId":"2"}`))
	f.Add([]byte(`{"CreateTime":-9223372036854775809}`))
	f.Add([]byte(`{"MsgId":1e400}`))
	f.Add([]byte(`[1,2,3]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := ParseJSON(body)
		if err != nil {
			if m != (Message{}) {
				t.Errorf("got %+v with error %v, want the zero Message", m, err)
			}
			return
		}
		_ = m.DedupKey()
		_, _ = ParseEnvelope(body, "application/json")
	})
}
