package server

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/hotline12367/hotline/protocol"
	"github.com/hotline12367/hotline/store"
)

// The frames sent for every stored message, and the acks, are written by hand rather than
// by encoding/json: they are the commonest frames, and a stored message's body is already the
// JSON of the wire message's other fields (messageBody's field names are protocol.Message's),
// so it is copied in as it is instead of decoded and encoded again. wire_test.go checks the
// result against encoding/json's.

// messageFrame is the message or event frame of a stored message.
func messageFrame(conversationID string, m store.Message) []byte {
	typ := protocol.TypeMessage
	if m.Kind == store.KindEvent {
		typ = protocol.TypeEvent
	}
	b := make([]byte, 0, 256+len(m.Body)+len(m.ClientID)+len(conversationID))
	b = append(b, `{"type":`...)
	b = appendString(b, typ)
	b = append(b, `,"conversation_id":`...)
	b = appendString(b, conversationID)
	b = append(b, `,"message":`...)
	b = appendMessage(b, m)
	return append(b, '}')
}

// ackFrame acknowledges the client's message id with the seq it was stored at.
func ackFrame(id string, seq int64) []byte {
	b := make([]byte, 0, 48+len(id))
	b = append(b, `{"type":"ack"`...)
	if id != "" {
		b = append(b, `,"id":`...)
		b = appendString(b, id)
	}
	if seq != 0 {
		b = append(b, `,"seq":`...)
		b = strconv.AppendInt(b, seq, 10)
	}
	return append(b, '}')
}

// appendMessage appends m as protocol.Message's JSON.
func appendMessage(b []byte, m store.Message) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, m.Seq, 10)
	b = append(b, `,"kind":`...)
	b = appendString(b, m.Kind)
	b = append(b, `,"from":`...)
	b = appendString(b, m.Role)
	if m.ClientID != "" {
		b = append(b, `,"client_id":`...)
		b = appendString(b, m.ClientID)
	}
	b = append(b, `,"time":"`...)
	b = m.CreatedAt.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	// The body is a JSON object: its fields follow.
	body := m.Body
	for len(body) > 0 && body[0] != '{' {
		body = body[1:]
	}
	if len(body) < 2 {
		return append(b, '}')
	}
	inner := body[1:]
	for i := 0; i < len(inner); i++ {
		switch inner[i] {
		case ' ', '\t', '\n', '\r':
			continue
		case '}':
			return append(b, '}') // an empty body
		}
		break
	}
	b = append(b, ',')
	return append(b, inner...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaped as encoding/json escapes it (invalid UTF-8
// becomes U+FFFD; <, > and & are escaped so the frame is safe in HTML too).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
