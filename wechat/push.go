package wechat

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"
)

// MaxBodyBytes is the largest push body the parsers and the [Handler] accept.
// WeChat's customer-service pushes are a few hundred bytes; 64 KiB leaves
// room for long texts and the base64 of the safe-mode envelope.
const MaxBodyBytes = 64 << 10

// Errors returned by the push parsers.
var (
	// ErrTooLarge means the body is longer than MaxBodyBytes.
	ErrTooLarge = errors.New("wechat: push body too large")
	// ErrMalformed means the body is neither a well-formed XML nor a
	// well-formed JSON push.
	ErrMalformed = errors.New("wechat: malformed push body")
)

// Format is the data format (数据格式) of pushes, chosen in the mini-program
// console.
type Format int

// The two push formats. The zero Format means "not known": the parsers then
// look at the body.
const (
	FormatXML Format = iota + 1
	FormatJSON
)

// String returns "xml", "json" or "unknown".
func (f Format) String() string {
	switch f {
	case FormatXML:
		return "xml"
	case FormatJSON:
		return "json"
	}
	return "unknown"
}

// Message types and events a mini-program's customer-service push carries.
const (
	MsgTypeText            = "text"            // Content
	MsgTypeImage           = "image"           // PicURL, MediaID
	MsgTypeMiniProgramPage = "miniprogrampage" // Title, AppID, PagePath, ThumbURL, ThumbMediaID
	MsgTypeEvent           = "event"           // Event

	// EventUserEnterTempSession is sent when a user opens the customer
	// service conversation from the mini-program.
	EventUserEnterTempSession = "user_enter_tempsession"
)

// Message is one message or event pushed by WeChat, decrypted if it came in
// the safe-mode envelope. Fields absent from the push are empty. FromUserName
// is the user's openid, the address for [Client.SendText].
type Message struct {
	ToUserName   string // the mini-program's original id (gh_…)
	FromUserName string // the sender's openid
	CreateTime   int64  // Unix seconds
	MsgType      string // MsgTypeText, MsgTypeImage, MsgTypeMiniProgramPage, MsgTypeEvent…
	Content      string // text
	MsgID        string // 64-bit id, kept as its decimal text; empty for events
	Event        string // for MsgTypeEvent, e.g. EventUserEnterTempSession
	SessionFrom  string // user_enter_tempsession: the button's session-from
	PicURL       string // image
	MediaID      string // image
	Title        string // miniprogrampage
	AppID        string // miniprogrampage
	PagePath     string // miniprogrampage
	ThumbURL     string // miniprogrampage
	ThumbMediaID string // miniprogrampage
}

// DedupKey returns the key under which WeChat's retries of this push are
// recognised: "msg:" and the MsgId when there is one, otherwise (events) the
// sender, the creation time and the event. Two pushes with the same key are
// the same message.
func (m Message) DedupKey() string {
	if m.MsgID != "" {
		return "msg:" + m.MsgID
	}
	return "ev:" + m.FromUserName + "|" + strconv.FormatInt(m.CreateTime, 10) + "|" + m.Event
}

// Envelope is the outer body of a safe-mode or compatible-mode push: the
// mini-program's id and the base64 ciphertext that [Cipher.Decrypt] opens.
type Envelope struct {
	ToUserName string
	Encrypt    string
}

// ParseMessage parses a plain push body, XML or JSON. The format is taken
// from the first non-space byte ('<' or '{'), or from contentType when the
// body does not say. It returns an error wrapping [ErrTooLarge] or
// [ErrMalformed]. CreateTime and MsgId are accepted as numbers or strings.
func ParseMessage(body []byte, contentType string) (Message, error) {
	w, err := parse(body, contentType)
	if err != nil {
		return Message{}, err
	}
	return w.message()
}

// ParseEnvelope parses the outer body of an encrypted push, XML or JSON,
// chosen as by [ParseMessage]. It returns an error wrapping [ErrMalformed] if
// the body has no Encrypt field.
func ParseEnvelope(body []byte, contentType string) (Envelope, error) {
	w, err := parse(body, contentType)
	if err != nil {
		return Envelope{}, err
	}
	if w.Encrypt == "" {
		return Envelope{}, fmt.Errorf("%w: no Encrypt field", ErrMalformed)
	}
	return Envelope{ToUserName: w.ToUserName, Encrypt: w.Encrypt}, nil
}

// ParseXML parses a plain push body as XML, whatever it looks like, with
// the leniency and errors of [ParseMessage].
func ParseXML(body []byte) (Message, error) { return parseMessageAs(body, FormatXML) }

// ParseJSON parses a plain push body as JSON, whatever it looks like, with
// the leniency and errors of [ParseMessage].
func ParseJSON(body []byte) (Message, error) { return parseMessageAs(body, FormatJSON) }

func parseMessageAs(body []byte, f Format) (Message, error) {
	w, err := parseAs(body, f)
	if err != nil {
		return Message{}, err
	}
	return w.message()
}

// DetectFormat returns the format of body: by its first non-space byte
// (after an optional UTF-8 byte order mark), else by contentType, else 0.
func DetectFormat(body []byte, contentType string) Format {
	b := bytes.TrimLeft(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(b) > 0 {
		switch b[0] {
		case '<':
			return FormatXML
		case '{':
			return FormatJSON
		}
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case strings.HasSuffix(mt, "json"):
		return FormatJSON
	case strings.HasSuffix(mt, "xml"):
		return FormatXML
	}
	return 0
}

// wire is every field a push body may carry, in either format, before the
// lenient fields are converted.
type wire struct {
	ToUserName   string   `xml:"ToUserName" json:"ToUserName"`
	FromUserName string   `xml:"FromUserName" json:"FromUserName"`
	CreateTime   flexText `xml:"CreateTime" json:"CreateTime"`
	MsgType      string   `xml:"MsgType" json:"MsgType"`
	Content      string   `xml:"Content" json:"Content"`
	MsgID        flexText `xml:"MsgId" json:"MsgId"`
	Event        string   `xml:"Event" json:"Event"`
	SessionFrom  string   `xml:"SessionFrom" json:"SessionFrom"`
	PicURL       string   `xml:"PicUrl" json:"PicUrl"`
	MediaID      string   `xml:"MediaId" json:"MediaId"`
	Title        string   `xml:"Title" json:"Title"`
	AppID        string   `xml:"AppId" json:"AppId"`
	PagePath     string   `xml:"PagePath" json:"PagePath"`
	ThumbURL     string   `xml:"ThumbUrl" json:"ThumbUrl"`
	ThumbMediaID string   `xml:"ThumbMediaId" json:"ThumbMediaId"`
	Encrypt      string   `xml:"Encrypt" json:"Encrypt"`
}

// flexText is a field WeChat sends sometimes as a JSON number and sometimes
// as a JSON string; it keeps the text either way, so a 64-bit MsgId never
// goes through a float.
type flexText string

// UnmarshalJSON accepts a string, a number or null.
func (f *flexText) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*f = ""
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexText(s)
		return nil
	case len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9'):
		*f = flexText(b)
		return nil
	}
	return fmt.Errorf("want a string or a number, got %.20q", b)
}

func parse(body []byte, contentType string) (wire, error) {
	return parseAs(body, DetectFormat(body, contentType))
}

func parseAs(body []byte, f Format) (wire, error) {
	var w wire
	if len(body) > MaxBodyBytes {
		return w, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(body), MaxBodyBytes)
	}
	var err error
	switch f {
	case FormatXML:
		err = xml.Unmarshal(body, &w)
	case FormatJSON:
		err = json.Unmarshal(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")), &w)
	default:
		return w, fmt.Errorf("%w: neither XML nor JSON", ErrMalformed)
	}
	if err != nil {
		return wire{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return w, nil
}

func (w wire) message() (Message, error) {
	m := Message{
		ToUserName:   w.ToUserName,
		FromUserName: w.FromUserName,
		MsgType:      w.MsgType,
		Content:      w.Content,
		MsgID:        strings.TrimSpace(string(w.MsgID)),
		Event:        w.Event,
		SessionFrom:  w.SessionFrom,
		PicURL:       w.PicURL,
		MediaID:      w.MediaID,
		Title:        w.Title,
		AppID:        w.AppID,
		PagePath:     w.PagePath,
		ThumbURL:     w.ThumbURL,
		ThumbMediaID: w.ThumbMediaID,
	}
	if ct := strings.TrimSpace(string(w.CreateTime)); ct != "" {
		t, err := strconv.ParseInt(ct, 10, 64)
		if err != nil {
			return Message{}, fmt.Errorf("%w: CreateTime %.20q is not an integer", ErrMalformed, ct)
		}
		m.CreateTime = t
	}
	return m, nil
}
