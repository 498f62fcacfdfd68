// Package client is a Go client of hotline's visitor chat WebSocket (docs/protocol.md). Tests,
// the load tool and integrators use it. A Conn is one connection; Session keeps what is needed
// to resume a conversation on a new connection (resume token and last seq).
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"

	"github.com/gorilla/websocket"

	"github.com/hotline12367/hotline/protocol"
)

// Session is what a visitor keeps between connections: the resume token and the last seq it
// has seen. The zero Session starts a new conversation.
type Session struct {
	ConversationID string
	ResumeToken    string
	LastSeq        int64
	Lang           string // language to ask for in hello ("" to let the server choose)
}

// Options tune Dial.
type Options struct {
	// Header is sent with the upgrade request (Origin, Accept-Language).
	Header http.Header
	// LocalAddr, when set, is the local address to dial from (the load tool spreads its
	// connections over 127.0.0.x addresses).
	LocalAddr net.Addr
}

// Conn is one WebSocket connection to the chat. Read and Write may be called from one
// goroutine each.
type Conn struct {
	ws      *websocket.Conn
	wmu     sync.Mutex
	Welcome protocol.ServerFrame
}

// ErrClosed is returned after the server closed the connection; errors.As with
// *websocket.CloseError gives the code (1012 means the server restarts: reconnect).
var ErrClosed = errors.New("client: connection closed")

// Dial connects to url (ws://host/ws), sends hello for sess and waits for the welcome. It
// updates sess with the conversation id, the token and the seq of the last message the
// welcome carried.
func Dial(ctx context.Context, url string, sess *Session, o Options) (*Conn, error) {
	d := websocket.Dialer{ReadBufferSize: 1024, WriteBufferSize: 1024}
	if o.LocalAddr != nil {
		d.NetDialContext = (&net.Dialer{LocalAddr: o.LocalAddr}).DialContext
	}
	ws, resp, err := d.DialContext(ctx, url, o.Header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("client: dial: %w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, fmt.Errorf("client: dial: %w", err)
	}
	c := &Conn{ws: ws}
	if err := c.Write(protocol.ClientFrame{Type: protocol.TypeHello, ResumeToken: sess.ResumeToken,
		LastSeq: sess.LastSeq, Lang: sess.Lang}); err != nil {
		ws.Close()
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		ws.SetReadDeadline(dl)
	}
	for {
		f, err := c.Read()
		if err != nil {
			ws.Close()
			return nil, err
		}
		if f.Type == protocol.TypeError && f.Error != nil &&
			(f.Error.Code == "resume_invalid" || f.Error.Code == "unsupported_language") {
			continue // a welcome follows: a new conversation, or the server's choice of language
		}
		if f.Type == protocol.TypeError {
			ws.Close()
			return nil, fmt.Errorf("client: %s: %s", f.Error.Code, f.Error.Message)
		}
		if f.Type != protocol.TypeWelcome {
			continue
		}
		c.Welcome = f
		sess.ConversationID, sess.ResumeToken = f.ConversationID, f.ResumeToken
		if !f.Resumed {
			sess.LastSeq = 0 // a new conversation: the old one's seqs mean nothing in it
		}
		sess.Observe(f)
		ws.SetReadDeadline(timeZero)
		return c, nil
	}
}

// Observe advances LastSeq past the messages a frame carries.
func (s *Session) Observe(f protocol.ServerFrame) {
	for _, m := range f.Messages {
		s.See(m.Seq)
	}
	if f.Message != nil {
		s.See(f.Message.Seq)
	}
}

// See advances LastSeq past a message's seq.
func (s *Session) See(seq int64) { s.LastSeq = max(s.LastSeq, seq) }

// Write sends one frame.
func (c *Conn) Write(f protocol.ClientFrame) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		return fmt.Errorf("client: write: %w", err)
	}
	return nil
}

// Send sends a visitor message with the client id id.
func (c *Conn) Send(id, text string) error {
	return c.Write(protocol.ClientFrame{Type: protocol.TypeMessage, ID: id, Text: text})
}

// Read returns the next frame from the server.
func (c *Conn) Read() (protocol.ServerFrame, error) {
	var f protocol.ServerFrame
	err := c.ReadInto(&f)
	return f, err
}

// ReadInto decodes the next frame from the server into v, which may be a struct of only the
// fields the caller needs (the load tool's, which reads thousands a second, is).
func (c *Conn) ReadInto(v any) error {
	b, err := c.ReadBytes()
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("client: bad frame: %w", err)
	}
	return nil
}

// ReadBytes returns the next frame from the server undecoded, for a caller with a decoder of
// its own.
func (c *Conn) ReadBytes() ([]byte, error) {
	_, b, err := c.ws.ReadMessage()
	if err != nil {
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("%w: %w", ErrClosed, err)
		}
		return nil, fmt.Errorf("client: read: %w", err)
	}
	return b, nil
}

// ReadUntil reads frames until match returns true for one, and returns it with the frames
// read before it. ctx's deadline bounds the wait.
func (c *Conn) ReadUntil(ctx context.Context, match func(protocol.ServerFrame) bool) (protocol.ServerFrame, []protocol.ServerFrame, error) {
	if dl, ok := ctx.Deadline(); ok {
		c.ws.SetReadDeadline(dl)
		defer c.ws.SetReadDeadline(timeZero)
	}
	var before []protocol.ServerFrame
	for {
		f, err := c.Read()
		if err != nil {
			return f, before, err
		}
		if match(f) {
			return f, before, nil
		}
		before = append(before, f)
	}
}

// IsAnswer matches a bot message (an answer or a handoff).
func IsAnswer(f protocol.ServerFrame) bool {
	return f.Type == protocol.TypeMessage && f.Message != nil && f.Message.From == protocol.FromBot
}

// Close closes the connection without a closing handshake.
func (c *Conn) Close() error { return c.ws.Close() }

// CloseNormal says goodbye (close code 1000) and closes.
func (c *Conn) CloseNormal() error {
	c.wmu.Lock()
	_ = c.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	c.wmu.Unlock()
	return c.ws.Close()
}
