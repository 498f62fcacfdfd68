package server_test

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hotline12367/hotline/client"
	"github.com/hotline12367/hotline/internal/testenv"
	"github.com/hotline12367/hotline/protocol"
)

// Idle visitors are parked with the poller: no goroutine each, and a message wakes them.
func TestIdleConnectionsAreParked(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the poller is Linux's epoll")
	}
	cfg := testenv.Config()
	cfg.MaxConnsPerIP = 0 // all from 127.0.0.1
	s := startServer(t, cfg, nil)
	const n = 200
	before := runtime.NumGoroutine()
	conns := make([]*client.Conn, n)
	for i := range conns {
		conns[i] = s.dial(t, &client.Session{}, nil)
	}
	waitFor(t, "every connection parked", func() bool { return s.srv.ParkedForTest() == n })
	// The test's own client connections start no goroutine; the server's parked ones neither.
	if grown := runtime.NumGoroutine() - before; grown > n/4 {
		t.Errorf("%d idle connections took %d goroutines", n, grown)
	}
	// Every parked connection still answers, in order, and parks again.
	for i, c := range conns[:20] {
		ack, answer := ask(t, c, fmt.Sprint("m", i), "How long can I stay with 240-hour visa-free transit?")
		if ack.Seq == 0 || answer.Message == nil || answer.Message.Seq != ack.Seq+1 {
			t.Fatalf("connection %d: ack %+v answer %+v", i, ack, answer.Message)
		}
	}
	waitFor(t, "every connection parked again", func() bool { return s.srv.ParkedForTest() == n })
}

// A parked connection that has not answered a ping for a whole pong wait is closed by the
// pinger; one that has is pinged.
func TestSilentParkedConnectionIsClosed(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the poller is Linux's epoll")
	}
	s := startServer(t, testenv.Config(), nil)
	c := s.dial(t, &client.Session{}, nil)
	waitFor(t, "the connection parked", func() bool { return s.srv.ParkedForTest() == 1 })
	// The client answers pings while it reads.
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := c.Read(); err != nil {
				done <- err
				return
			}
		}
	}()
	s.srv.PingAllForTest(false)
	select {
	case err := <-done:
		t.Fatalf("a connection that answers pings was closed: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	waitFor(t, "the pong taken in passing and the connection parked again", func() bool { return s.srv.ParkedForTest() == 1 })
	s.srv.PingAllForTest(true)
	select {
	case err := <-done:
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			t.Logf("closed with %d", ce.Code)
		}
	case <-time.After(waitTime):
		t.Fatal("the silent connection was not closed")
	}
	waitFor(t, "the connection gone", func() bool { return s.srv.ParkedForTest() == 0 })
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTime)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Frames that arrive together, in one segment, are all read before the connection is parked:
// the second waits in the read buffer, where the poller would never see it.
func TestFramesArrivingTogether(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the poller is Linux's epoll")
	}
	s := startServer(t, testenv.Config(), nil)
	c := dialRaw(t, s.wsURL(), acceptLanguage("en"))
	c.hello(protocol.ClientFrame{})
	waitFor(t, "the connection parked", func() bool { return s.srv.ParkedForTest() == 1 })
	// Two masked text frames and a pong, written at once on the socket.
	var seg []byte
	for _, p := range [][]byte{[]byte(messageJSON("t1", "What is a port visa?")), []byte(messageJSON("t2", "What is the five-star card?")), nil} {
		op := byte(0x81)
		if p == nil {
			op = 0x8A
		}
		key := []byte{7, 1, 3, 9}
		seg = append(seg, op, 0x80|byte(len(p)))
		seg = append(seg, key...)
		for i, b := range p {
			seg = append(seg, b^key[i%4])
		}
	}
	if _, err := c.ws.NetConn().Write(seg); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"t1", "t2"} {
		if f := c.until("the ack of "+id, isAckOrErrorFor(id)); f.Type != protocol.TypeAck {
			t.Fatalf("%s: got %s, want an ack", id, describe([]protocol.ServerFrame{f}))
		}
	}
	waitFor(t, "the connection parked again", func() bool { return s.srv.ParkedForTest() == 1 })
}
