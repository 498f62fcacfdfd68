package server

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// pipeListener hands out one end of a net.Pipe, once. A pipe has no buffer: every Read at
// the other end returns bytes of one Write at most, so the reads count the writes.
type pipeListener struct {
	conns chan net.Conn
}

func (l *pipeListener) Accept() (net.Conn, error) {
	c, ok := <-l.conns
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}
func (l *pipeListener) Close() error   { return nil }
func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{} }

// pipeVisitor serves one visitor WebSocket over a net.Pipe: serve gets the server's client
// (with its gathering socket, and no room) on the handler's goroutine, and pipeVisitor returns
// the visitor's end once the handshake is read, so that every later Read is one write of the
// server's.
func pipeVisitor(t *testing.T, serve func(c *client)) net.Conn {
	t.Helper()
	srvEnd, cliEnd := net.Pipe()
	t.Cleanup(func() { cliEnd.Close() })
	ln := &pipeListener{conns: make(chan net.Conn, 1)}
	ln.conns <- srvEnd
	close(ln.conns)
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj := &hijacker{ResponseWriter: w}
		conn, err := visitorUpgrader.Upgrade(hj, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		serve(&client{s: &Server{metrics: newMetrics()}, conn: conn, cork: hj.cc, send: make(chan []byte, 64), quit: make(chan struct{})})
	})}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })

	cliEnd.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	go cliEnd.Write([]byte(req))
	br := bufio.NewReader(cliEnd)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		if line == "\r\n" {
			break
		}
	}
	if br.Buffered() > 0 {
		t.Fatalf("%d bytes came with the handshake", br.Buffered())
	}
	return cliEnd
}

// The frames a visitor's writer finds waiting (an ack and the answer behind it) leave in one
// write to the socket; a frame alone leaves at once.
func TestWriterCorksWaitingFrames(t *testing.T) {
	written := make(chan *client, 1)
	cliEnd := pipeVisitor(t, func(c *client) {
		c.send <- []byte(`{"type":"ack"}`)
		c.send <- []byte(`{"type":"message"}`)
		c.writing.Store(true)
		c.writeLoop()
		c.send <- []byte(`{"type":"typing"}`)
		c.writing.Store(true)
		c.writeLoop()
		written <- c
	})
	buf := make([]byte, 4096)
	n, err := cliEnd.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	got := string(buf[:n])
	if !strings.Contains(got, `{"type":"ack"}`) || !strings.Contains(got, `{"type":"message"}`) {
		t.Fatalf("the first write held %q; want the ack and the message together", got)
	}
	n, err = cliEnd.Read(buf)
	if err != nil || !strings.Contains(string(buf[:n]), `{"type":"typing"}`) {
		t.Fatalf("the lone frame: %q, %v", buf[:n], err)
	}
	c := <-written
	if c.cork.corked || c.cork.buf != nil {
		t.Error("the writer left the socket corked")
	}
}

// Gorilla's reader writes pongs through the socket while a writer on a goroutine of its own
// has it corked: the pongs go out, with the frames or between them, and -race finds nothing.
func TestCorkWithPongs(t *testing.T) {
	done := make(chan struct{})
	cliEnd := pipeVisitor(t, func(c *client) {
		defer close(done)
		pongs := make(chan struct{})
		go func() {
			defer close(pongs)
			for range 50 {
				_ = c.conn.WriteControl(websocket.PongMessage, []byte("p"), time.Now().Add(5*time.Second))
			}
		}()
		for range 20 {
			for range 3 {
				c.send <- []byte(`{"type":"message"}`)
			}
			c.writing.Store(true)
			c.writeLoop()
		}
		<-pongs
	})
	var got strings.Builder
	buf := make([]byte, 4096)
	for {
		select {
		case <-done:
			if n := strings.Count(got.String(), `{"type":"message"}`); n != 60 {
				t.Errorf("messages through: %d, want 60", n)
			}
			return
		default:
		}
		cliEnd.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := cliEnd.Read(buf)
		got.Write(buf[:n])
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal(err)
		}
	}
}
