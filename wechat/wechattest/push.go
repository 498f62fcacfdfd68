package wechattest

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/hotline12367/hotline/wechat"
)

// DefaultPushURL is where Push requests go unless Push.URL says otherwise.
// Its host is never dialed when the request is passed to a handler's
// ServeHTTP directly.
const DefaultPushURL = "http://hotline.test/wechat/callback"

// Push builds the requests WeChat's message push sends to a mini-program's
// server, signed (and encrypted) as WeChat does, to drive a wechat.Handler
// in tests. Token, and for encrypted pushes AESKey and AppID, must match the
// handler's. The other fields are optional and make requests reproducible.
type Push struct {
	Token, AESKey, AppID string
	// URL is the push URL (DefaultPushURL); point it at an httptest.Server
	// to send the request with an http.Client.
	URL string
	// Timestamp and Nonce of the query: by default the message's CreateTime
	// (or 1714037059) and "486452656".
	Timestamp, Nonce string
	// Random is the 16-byte random prefix of the ciphertext (fresh random
	// bytes if nil).
	Random []byte
	// Compatible makes encrypted pushes carry the plaintext fields beside
	// Encrypt, as the console's compatible mode (兼容模式) does.
	Compatible bool
}

// Verification returns the GET request WeChat sends to verify the push URL,
// signed with p.Token.
func (p Push) Verification(echostr string) *http.Request {
	ts, nonce := p.stamp(wechat.Message{})
	q := url.Values{
		"signature": {wechat.Signature(p.Token, ts, nonce)},
		"echostr":   {echostr},
		"timestamp": {ts},
		"nonce":     {nonce},
	}
	return p.newRequest(http.MethodGet, q, nil, "")
}

// Request returns the POST request WeChat sends to push m in format f:
// plain and signed with p.Token if safe is false; else encrypted with
// p.AESKey and p.AppID, with encrypt_type=aes and a msg_signature. It panics
// if the format is unknown or, for an encrypted push, the AESKey or AppID is
// invalid: it is a test helper.
func (p Push) Request(m wechat.Message, f wechat.Format, safe bool) *http.Request {
	ts, nonce := p.stamp(m)
	q := url.Values{
		"signature": {wechat.Signature(p.Token, ts, nonce)},
		"timestamp": {ts},
		"nonce":     {nonce},
	}
	var body []byte
	if !safe {
		body = Body(m, f)
	} else {
		c, err := wechat.NewCipher(p.AESKey, p.AppID)
		if err != nil {
			panic(fmt.Sprintf("wechattest: %v", err))
		}
		enc, err := c.Encrypt(Body(m, f), p.Random)
		if err != nil {
			panic(fmt.Sprintf("wechattest: %v", err))
		}
		var plain *wechat.Message
		if p.Compatible {
			plain = &m
		}
		body = EnvelopeBody(m.ToUserName, enc, plain, f)
		q.Set("openid", m.FromUserName)
		q.Set("encrypt_type", "aes")
		q.Set("msg_signature", wechat.Signature(p.Token, ts, nonce, enc))
	}
	ctype := "text/xml"
	if f == wechat.FormatJSON {
		ctype = "application/json"
	}
	return p.newRequest(http.MethodPost, q, body, ctype)
}

func (p Push) stamp(m wechat.Message) (ts, nonce string) {
	ts, nonce = p.Timestamp, p.Nonce
	if ts == "" {
		ts = "1714037059"
		if m.CreateTime != 0 {
			ts = strconv.FormatInt(m.CreateTime, 10)
		}
	}
	if nonce == "" {
		nonce = "486452656"
	}
	return ts, nonce
}

func (p Push) newRequest(method string, q url.Values, body []byte, ctype string) *http.Request {
	target := p.URL
	if target == "" {
		target = DefaultPushURL
	}
	u, err := url.Parse(target)
	if err != nil {
		panic(fmt.Sprintf("wechattest: push url: %v", err))
	}
	u.RawQuery = q.Encode()
	r, err := http.NewRequest(method, u.String(), bytes.NewReader(body))
	if err != nil {
		panic(fmt.Sprintf("wechattest: %v", err))
	}
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	return r
}

// Body returns m as a plain push body in format f, laid out as WeChat sends
// it: XML with CDATA text, or JSON with CreateTime (and a numeric MsgId) as
// numbers. Empty fields are left out. It panics if f is unknown.
func Body(m wechat.Message, f wechat.Format) []byte {
	switch f {
	case wechat.FormatXML:
		b, err := xml.Marshal(toXML(m))
		if err != nil {
			panic(fmt.Sprintf("wechattest: %v", err))
		}
		return b
	case wechat.FormatJSON:
		return marshalJSON(toJSON(m))
	}
	panic(fmt.Sprintf("wechattest: unknown format %v", f))
}

// EnvelopeBody returns the outer body of an encrypted push in format f:
// ToUserName and Encrypt, and the fields of plain too when it is not nil
// (compatible mode). It panics if f is unknown.
func EnvelopeBody(toUserName, encrypt string, plain *wechat.Message, f wechat.Format) []byte {
	var m wechat.Message
	if plain != nil {
		m = *plain
	}
	m.ToUserName = toUserName
	switch f {
	case wechat.FormatXML:
		x := toXML(m)
		x.Encrypt = cdata(encrypt)
		b, err := xml.Marshal(x)
		if err != nil {
			panic(fmt.Sprintf("wechattest: %v", err))
		}
		return b
	case wechat.FormatJSON:
		j := toJSON(m)
		j.Encrypt = encrypt
		return marshalJSON(j)
	}
	panic(fmt.Sprintf("wechattest: unknown format %v", f))
}

// cdataText is an XML element whose text is written as CDATA.
type cdataText struct {
	Text string `xml:",cdata"`
}

func cdata(s string) *cdataText {
	if s == "" {
		return nil
	}
	return &cdataText{s}
}

type xmlPush struct {
	XMLName      xml.Name   `xml:"xml"`
	ToUserName   *cdataText `xml:"ToUserName,omitempty"`
	FromUserName *cdataText `xml:"FromUserName,omitempty"`
	CreateTime   int64      `xml:"CreateTime,omitempty"`
	MsgType      *cdataText `xml:"MsgType,omitempty"`
	Content      *cdataText `xml:"Content,omitempty"`
	MsgID        string     `xml:"MsgId,omitempty"`
	Event        *cdataText `xml:"Event,omitempty"`
	SessionFrom  *cdataText `xml:"SessionFrom,omitempty"`
	PicURL       *cdataText `xml:"PicUrl,omitempty"`
	MediaID      *cdataText `xml:"MediaId,omitempty"`
	Title        *cdataText `xml:"Title,omitempty"`
	AppID        *cdataText `xml:"AppId,omitempty"`
	PagePath     *cdataText `xml:"PagePath,omitempty"`
	ThumbURL     *cdataText `xml:"ThumbUrl,omitempty"`
	ThumbMediaID *cdataText `xml:"ThumbMediaId,omitempty"`
	Encrypt      *cdataText `xml:"Encrypt,omitempty"`
}

func toXML(m wechat.Message) xmlPush {
	return xmlPush{
		ToUserName:   cdata(m.ToUserName),
		FromUserName: cdata(m.FromUserName),
		CreateTime:   m.CreateTime,
		MsgType:      cdata(m.MsgType),
		Content:      cdata(m.Content),
		MsgID:        m.MsgID,
		Event:        cdata(m.Event),
		SessionFrom:  cdata(m.SessionFrom),
		PicURL:       cdata(m.PicURL),
		MediaID:      cdata(m.MediaID),
		Title:        cdata(m.Title),
		AppID:        cdata(m.AppID),
		PagePath:     cdata(m.PagePath),
		ThumbURL:     cdata(m.ThumbURL),
		ThumbMediaID: cdata(m.ThumbMediaID),
	}
}

type jsonPush struct {
	ToUserName   string          `json:"ToUserName,omitempty"`
	FromUserName string          `json:"FromUserName,omitempty"`
	CreateTime   int64           `json:"CreateTime,omitempty"`
	MsgType      string          `json:"MsgType,omitempty"`
	Content      string          `json:"Content,omitempty"`
	MsgID        json.RawMessage `json:"MsgId,omitempty"`
	Event        string          `json:"Event,omitempty"`
	SessionFrom  string          `json:"SessionFrom,omitempty"`
	PicURL       string          `json:"PicUrl,omitempty"`
	MediaID      string          `json:"MediaId,omitempty"`
	Title        string          `json:"Title,omitempty"`
	AppID        string          `json:"AppId,omitempty"`
	PagePath     string          `json:"PagePath,omitempty"`
	ThumbURL     string          `json:"ThumbUrl,omitempty"`
	ThumbMediaID string          `json:"ThumbMediaId,omitempty"`
	Encrypt      string          `json:"Encrypt,omitempty"`
}

func toJSON(m wechat.Message) jsonPush {
	j := jsonPush{
		ToUserName:   m.ToUserName,
		FromUserName: m.FromUserName,
		CreateTime:   m.CreateTime,
		MsgType:      m.MsgType,
		Content:      m.Content,
		Event:        m.Event,
		SessionFrom:  m.SessionFrom,
		PicURL:       m.PicURL,
		MediaID:      m.MediaID,
		Title:        m.Title,
		AppID:        m.AppID,
		PagePath:     m.PagePath,
		ThumbURL:     m.ThumbURL,
		ThumbMediaID: m.ThumbMediaID,
	}
	if m.MsgID != "" {
		if _, err := strconv.ParseUint(m.MsgID, 10, 64); err == nil {
			j.MsgID = json.RawMessage(m.MsgID) // WeChat sends a number
		} else {
			j.MsgID, _ = json.Marshal(m.MsgID)
		}
	}
	return j
}

func marshalJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("wechattest: %v", err))
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}
