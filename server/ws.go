package server

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/hotline12367/hotline/kb"
	"github.com/hotline12367/hotline/protocol"
)

// Connection timing, as in gorilla/websocket's chat example: the writer pings more often than
// the reader waits for a pong.
const (
	writeWait    = 10 * time.Second
	pongWait     = 60 * time.Second
	pingPeriod   = pongWait * 9 / 10
	helloWait    = 10 * time.Second
	maxFrameSize = 4*MaxQuestionRunes + 1024 // the longest question in UTF-8, with JSON around it
	// strikesToClose is how many refused messages in a row (rate limit) end a connection.
	strikesToClose = 20
)

// Close codes beyond RFC 6455's names.
const closeServiceRestart = 1012

// readBufferSize is a visitor connection's read buffer: frames are small.
const readBufferSize = 512

// visitorUpgrader upgrades visitors' connections: small buffers, and write buffers from a pool
// while writing only, since most connections are idle most of the time and one process holds
// tens of thousands. Its read buffer is the one Hijack (below) hands it, so that the reader
// can see whether a frame waits there before parking the connection (poll_linux.go).
var visitorUpgrader = websocket.Upgrader{
	ReadBufferSize:    0, // the hijacked reader's
	WriteBufferSize:   1024,
	WriteBufferPool:   &sync.Pool{},
	EnableCompression: false,
	CheckOrigin:       func(*http.Request) bool { return true },
}

// hijacker gives the upgrader a read buffer of readBufferSize bytes, and keeps it.
type hijacker struct {
	http.ResponseWriter
	br *bufio.Reader
	cc *corkConn
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil || rw.Reader.Buffered() > 0 {
		return conn, rw, err // the upgrader refuses a client that spoke before the handshake ended
	}
	h.br = bufio.NewReaderSize(conn, readBufferSize)
	h.cc = &corkConn{Conn: conn}
	return h.cc, bufio.NewReadWriter(h.br, rw.Writer), nil
}

// corkConn is a visitor's socket as gorilla writes to it. While the connection's writer holds
// it corked, the frames it writes gather in a buffer and go out in one write(2) when it
// uncorks: an ack and the answer right behind it are one TCP segment, not two, which spares a
// system call here, a wake-up at the other end, and on a phone network a packet. The writer
// corks and uncorks; gorilla's reader may write too (a pong, the echo of a close), which then
// goes out with the rest.
type corkConn struct {
	net.Conn
	mu     sync.Mutex
	corked bool
	buf    *[]byte // from corkBuffers while corked
}

var corkBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func (c *corkConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		return c.Conn.Write(b)
	}
	*c.buf = append(*c.buf, b...)
	return len(b), nil
}

// cork starts gathering, unless it has.
func (c *corkConn) cork() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		c.corked = true
		c.buf = corkBuffers.Get().(*[]byte)
	}
}

// uncork writes what gathered, if it was gathering; the error is the write's.
func (c *corkConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		return nil
	}
	c.corked = false
	var err error
	if len(*c.buf) > 0 {
		_, err = c.Conn.Write(*c.buf)
	}
	if cap(*c.buf) <= 64<<10 { // an unusually long burst is not kept for every connection
		*c.buf = (*c.buf)[:0]
		corkBuffers.Put(c.buf)
	}
	c.buf = nil
	return err
}

// SyscallConn is the socket's, for the poller.
func (c *corkConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("server: not a socket")
	}
	return sc.SyscallConn()
}

// upgrader upgrades agents' console connections. Small buffers, and write buffers from a pool
// while writing only, as for visitors.
var upgrader = websocket.Upgrader{
	ReadBufferSize:    512,
	WriteBufferSize:   1024,
	WriteBufferPool:   &sync.Pool{},
	EnableCompression: false,
	CheckOrigin:       func(*http.Request) bool { return true }, // checked by the server, which answers with a localized error
}

// client is one WebSocket connection. Its reader (readPump, then read) runs while there is
// something to read: a visitor's connection is parked with the poller between frames
// (poll_linux.go), with no goroutine at all, and an agent's keeps its reader. A read that
// fails ends the client. Frames for the client wait in send, and a writer (writeLoop) runs
// only while some wait: on the reader's goroutine for what handling a frame queued (flush),
// otherwise on a goroutine of its own; one at a time, it alone writes to conn. The hub's
// pinger queues pings.
type client struct {
	s    *Server
	conn *websocket.Conn
	ip   string
	hint kb.Pref // from Accept-Language

	send        chan []byte // frames to write; nil is a ping
	writing     atomic.Bool // a writeLoop runs
	handling    atomic.Bool // the reader is handling a frame (see flush)
	closeOnce   sync.Once
	closed      chan struct{} // closed with the socket
	closedOnce  sync.Once
	quit        chan struct{} // closed to stop the writer at once (slow client, shutdown)
	closeCode   int           // what the writer sends when quit closes; set once, before quit closes
	closeReason string

	limiter *rate.Limiter
	strikes int                // refused messages in a row; the reader's own
	agent   *agentInfo         // set on agent console connections; visitors are never agents
	session string             // an agent connection's console session (its hash), ended by logging out
	rooms   map[*room]struct{} // the conversations an agent connection watches; guarded by mu

	welcomed chan struct{} // closed when hello is done (or failed)

	// Parking (poll_linux.go). br is the connection's read buffer; welcome is set once hello is
	// done; both are the reader's own, as is poll. parked is set while the poller holds the
	// connection and no reader runs; lastRead is when a frame or a pong last came (Unix ns).
	br       *bufio.Reader
	cork     *corkConn // the socket gorilla writes to
	welcome  bool
	poll     pollState
	parked   atomic.Bool
	lastRead atomic.Int64
	pingSlot int // set by register

	mu   sync.Mutex
	room *room // set once hello is done; guarded by mu
	lang kb.Pref
}

func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	select {
	case <-s.closing:
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	default:
	}
	hj := &hijacker{ResponseWriter: w}
	conn, err := visitorUpgrader.Upgrade(hj, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	c := &client{
		s: s, conn: conn, ip: clientIP(r), hint: s.acceptLanguage(r),
		send: make(chan []byte, s.cfg.SendQueue), quit: make(chan struct{}), welcomed: make(chan struct{}),
		closed: make(chan struct{}), br: hj.br, cork: hj.cc,
	}
	c.lastRead.Store(time.Now().UnixNano())
	if s.cfg.MessageRate > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(s.cfg.MessageRate), max(s.cfg.MessageBurst, 1))
	}
	c.lang = c.hint
	if !s.originAllowed(r) {
		c.refuse(CodeOriginNotAllowed)
		return
	}
	if max := s.cfg.MaxConns; max > 0 && s.hub.count() >= max {
		c.refuse(CodeServerBusy)
		return
	}
	if !s.limits.acquire(c.ip) {
		c.refuse(CodeTooManyConnections)
		return
	}
	if !s.hub.register(c) {
		s.limits.release(c.ip)
		c.refuse("")
		return
	}
	s.metrics.connections.Inc()
	// The reader runs on a goroutine of its own, so that this handler returns and net/http
	// lets go of the request, its buffers and this goroutine's stack: a connection that
	// stays open for hours should cost only what it uses.
	go c.readPump()
}

// refuse tells a connection why it cannot stay and closes it.
func (c *client) refuse(code string) {
	if code != "" {
		c.s.metrics.errors.WithLabelValues(code).Inc()
		b, _ := json.Marshal(c.errorFrame(code, ""))
		c.conn.SetWriteDeadline(time.Now().Add(writeWait))
		_ = c.conn.WriteMessage(websocket.TextMessage, b)
		closeCode := websocket.ClosePolicyViolation
		if code == CodeServerBusy {
			closeCode = websocket.CloseTryAgainLater // not the visitor's doing: come back soon
		}
		_ = c.conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(closeCode, code), time.Now().Add(writeWait))
	} else {
		_ = c.conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(closeServiceRestart, "restarting"), time.Now().Add(writeWait))
	}
	c.conn.Close()
}

func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser: native apps, the load tool
	}
	if slices.Contains(s.cfg.Origins, "*") || slices.Contains(s.cfg.Origins, origin) {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (c *client) errorFrame(code, ref string) protocol.ServerFrame {
	eb := c.s.errorBody(c.currentLang().Lang, code)
	return protocol.ServerFrame{Type: protocol.TypeError, Error: &protocol.ErrorBody{Code: eb.Code, Message: eb.Message, Ref: ref}}
}

func (c *client) currentLang() kb.Pref {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lang
}

func (c *client) setLang(p kb.Pref) {
	c.mu.Lock()
	c.lang = p
	c.mu.Unlock()
}

func (c *client) currentRoom() *room {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.room
}

// sendError queues an error frame for this connection only.
func (c *client) sendError(code, ref string) {
	c.s.metrics.errors.WithLabelValues(code).Inc()
	c.sendFrame(c.errorFrame(code, ref))
}

func (c *client) sendFrame(f protocol.ServerFrame) {
	b, err := json.Marshal(f)
	if err != nil {
		c.s.log.Error("encode frame", "err", err)
		return
	}
	c.enqueue(b)
}

// enqueue queues b for the writer without ever blocking. The slow-client policy: when the
// queue is full the connection is closed (code 1008, "slow_client"); everything it missed
// is stored, so the client gets it back by reconnecting with its last seq.
func (c *client) enqueue(b []byte) {
	select {
	case <-c.quit:
		return
	default:
	}
	select {
	case c.send <- b:
		c.kick()
	default:
		c.s.metrics.errors.WithLabelValues(CodeSlowClient).Inc()
		c.stop(websocket.ClosePolicyViolation, CodeSlowClient)
	}
}

// stop makes the writer send a close frame with code and reason and end the connection.
func (c *client) stop(code int, reason string) {
	c.closeOnce.Do(func() {
		c.closeCode, c.closeReason = code, reason
		close(c.quit)
		c.kick()
	})
}

func (c *client) readPump() {
	// Frames are read through a limit of our own, so that an oversized one is answered with
	// a too_long error before the close; gorilla's limit, set higher, is the backstop.
	c.conn.SetReadLimit(4 * maxFrameSize)
	c.conn.SetReadDeadline(time.Now().Add(helloWait))
	c.conn.SetPongHandler(func(string) error {
		c.lastRead.Store(time.Now().UnixNano())
		return c.conn.SetReadDeadline(time.Now().Add(pongWait))
	})
	if p := c.s.poller.Load(); p != nil {
		p.watch(c)
	}
	c.readLoop()
}

// readLoop reads frames until the connection ends, and then ends it; or, once hello is done,
// until nothing is left to read, and then parks the connection with the poller, which starts
// readLoop again when something comes.
func (c *client) readLoop() {
	c.read(false)
}

// read is readLoop; woken says the poller started it, with something to read.
func (c *client) read(woken bool) {
	var ended error
	if woken {
		// Fill the buffer, so that idle sees what came. A socket at its end (the peer gone
		// without a close frame) reports so to Peek once, and is never idle: parked again, it
		// would wake the poller again at once, until the pinger found it silent a minute later.
		// readFrame's read finds the end again, and ends the connection.
		_, ended = c.br.Peek(1)
	}
	for {
		if c.welcome && ended == nil && c.idle() {
			if p := c.s.poller.Load(); p != nil && p.park(c) {
				p.poll()
				return
			}
		}
		b, err := c.readFrame()
		if err != nil {
			if errors.Is(err, errFrameTooLarge) || errors.Is(err, websocket.ErrReadLimit) {
				c.sendError(CodeTooLong, "")
				c.stop(websocket.CloseMessageTooBig, CodeTooLong)
			}
			c.end()
			return
		}
		now := time.Now()
		c.lastRead.Store(now.UnixNano())
		if c.welcome {
			// Anything heard keeps a visitor's connection for another pong wait.
			c.conn.SetReadDeadline(now.Add(pongWait))
		}
		c.s.metrics.messagesIn.Inc()
		f, err := protocol.Decode(b)
		if err != nil {
			code := CodeBadJSON
			if errors.Is(err, protocol.ErrUnknownType) {
				code = CodeUnknownType
			}
			c.sendError(code, f.ID)
			continue
		}
		if !c.welcome {
			if f.Type != protocol.TypeHello {
				c.sendError(CodeHelloRequired, f.ID)
				continue
			}
			c.conn.SetReadDeadline(time.Now().Add(pongWait))
			c.s.hub.hello(c, f)
			// Frames sent right after hello wait for the welcome, in order, in the socket.
			select {
			case <-c.welcomed:
			case <-c.quit:
				c.end()
				return
			}
			c.welcome = true
			continue
		}
		c.handling.Store(true)
		c.handle(f)
		c.flush()
	}
}

// idle reports whether nothing waits to be read but pongs, which it takes in passing: a
// parked connection wakes for each pong, and gorilla, given one, would go on to wait for the
// next data frame. Anything else (data, a ping, a close, part of a frame) is left to gorilla.
func (c *client) idle() bool {
	if c.br == nil {
		return false
	}
	for c.br.Buffered() > 0 {
		n := c.br.Buffered()
		h, _ := c.br.Peek(min(n, 2+4+125))
		// A client's pong: FIN and opcode 0xA, masked, payload of at most 125 bytes.
		if len(h) < 2 || h[0] != 0x8A || h[1]&0x80 == 0 {
			return false
		}
		size := 2 + 4 + int(h[1]&0x7F)
		if h[1]&0x7F > 125 || len(h) < size {
			return false
		}
		c.br.Discard(size)
		c.lastRead.Store(time.Now().UnixNano())
	}
	return true
}

// unpark starts a reader for a parked connection: something came, or it is being closed.
func (c *client) unpark() {
	if c.parked.CompareAndSwap(true, false) {
		// Ready data is read at once; a frame that stops half-way waits no longer than this.
		c.conn.SetReadDeadline(time.Now().Add(pongWait))
		c.s.poller.Load().start(c) // only a poller parks a connection
	}
}

// end is the last thing a connection's reader does.
func (c *client) end() {
	c.s.hub.unregister(c)
	c.s.limits.release(c.ip)
	c.s.metrics.connections.Dec()
	c.finish()
}

// handle checks a frame against the limits and hands it to the conversation.
func (c *client) handle(f protocol.ClientFrame) {
	r := c.currentRoom()
	if r == nil {
		c.sendError(CodeInternal, f.ID) // hello failed; the connection is closing
		return
	}
	switch f.Type {
	case protocol.TypeMessage, protocol.TypeFeedback, protocol.TypeLang, protocol.TypeLeaveMessage:
		if !c.allow() {
			c.sendError(CodeRateLimited, f.ID)
			if c.strikes >= strikesToClose {
				c.stop(websocket.ClosePolicyViolation, CodeRateLimited)
			}
			return
		}
	case protocol.TypeTyping, protocol.TypeSync:
		if c.limiter != nil && !c.limiter.Allow() {
			return // typing indicators beyond the rate are dropped silently
		}
	case protocol.TypeHello:
		c.sendError(CodeUnknownType, f.ID)
		return
	}
	if f.Type == protocol.TypeMessage {
		text := strings.TrimSpace(f.Text)
		switch {
		case !utf8.ValidString(text):
			c.sendError(CodeBadJSON, f.ID)
			return
		case text == "":
			c.sendError(CodeEmpty, f.ID)
			return
		case utf8.RuneCountInString(text) > MaxQuestionRunes:
			c.sendError(CodeTooLong, f.ID)
			return
		}
		f.Text = text
	}
	r.submitHere(job{client: c, frame: f, at: time.Now()})
}

func (c *client) allow() bool {
	ok := (c.limiter == nil || c.limiter.Allow()) && c.s.limits.allowMessage(c.ip)
	if ok {
		c.strikes = 0
	} else {
		c.strikes++
	}
	return ok
}

var errFrameTooLarge = errors.New("server: frame too large")

// readFrame reads one message of at most maxFrameSize bytes.
func (c *client) readFrame() ([]byte, error) {
	_, r, err := c.conn.NextReader()
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(r, maxFrameSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFrameSize {
		return nil, errFrameTooLarge
	}
	return b, nil
}

// finish ends the connection once the reader is done: it lets the writer send what is queued
// and the close frame (bounded by the write deadline), then closes the socket.
func (c *client) finish() {
	c.stop(websocket.CloseNormalClosure, "")
	select {
	case <-c.closed:
	case <-time.After(writeWait):
	}
	c.closeConn()
}

// closeConn closes the socket, once.
func (c *client) closeConn() {
	c.closedOnce.Do(func() {
		c.conn.Close()
		close(c.closed)
		// A parked connection has no reader to notice: start one, which finds the socket
		// closed and ends the connection.
		if c.parked.Load() {
			if p := c.s.poller.Load(); p != nil {
				p.forget(c)
			}
			c.unpark()
		}
	})
}

// kick makes sure a writer runs while frames wait. The writer is a goroutine that lives only
// while there is something to write: an idle connection costs no writer stack, which matters
// when one process holds tens of thousands of them. At most one writer runs at a time (the
// writing flag), so it alone writes to conn.
func (c *client) kick() {
	if c.handling.Load() {
		return // the reader handles a frame, and writes what it queued when done (flush)
	}
	if c.writing.CompareAndSwap(false, true) {
		go c.writeLoop()
	}
}

// flush ends the reader's handling of a frame: it writes what waits for the connection (the
// ack, the answer) on the reader's goroutine, unless a writer runs, rather than hand the frames
// to a new goroutine that would have to wait its turn to run.
func (c *client) flush() {
	c.handling.Store(false)
	if c.quitting() {
		// The goodbye is a writer's of its own, while this reader drains what the client
		// still sends: closing a socket with unread data resets it, and the close frame
		// would be lost.
		c.kick()
		return
	}
	if len(c.send) > 0 && c.writing.CompareAndSwap(false, true) {
		c.writeLoop()
	}
}

// writeLoop writes queued frames until the queue is empty, then exits. A nil frame is a ping.
// After quit it flushes the queue, sends the close frame and closes the connection; after a
// failed write it closes the connection; either way it leaves writing set, so that no writer
// starts again.
func (c *client) writeLoop() {
	for {
		select {
		case <-c.quit:
			c.flushAndClose()
			return
		default:
		}
		select {
		case b := <-c.send:
			if c.cork != nil && len(c.send) > 0 {
				c.cork.cork() // more wait: one write for them all
			}
			if !c.write(b) {
				c.closeConn()
				return
			}
		case <-c.quit:
			c.flushAndClose()
			return
		default:
			if c.cork != nil && c.cork.uncork() != nil {
				c.closeConn()
				return
			}
			c.writing.Store(false)
			// A frame queued between the empty check and the store above must not wait for the
			// next one: take the writer role back if no one else has.
			if len(c.send) == 0 && !c.quitting() || !c.writing.CompareAndSwap(false, true) {
				return
			}
		}
	}
}

func (c *client) quitting() bool {
	select {
	case <-c.quit:
		return true
	default:
		return false
	}
}

func (c *client) write(b []byte) bool {
	c.conn.SetWriteDeadline(time.Now().Add(writeWait))
	if b == nil {
		return c.conn.WriteMessage(websocket.PingMessage, nil) == nil
	}
	if err := c.conn.WriteMessage(websocket.TextMessage, b); err != nil {
		return false
	}
	c.s.metrics.messagesOut.Inc()
	return true
}

// flushAndClose writes what is queued (an error, a shutdown's last frames), says goodbye with
// the close code stop chose, and closes the connection.
func (c *client) flushAndClose() {
	defer c.closeConn()
	if c.cork != nil {
		defer c.cork.uncork() // the close frame included; a failed write ends it anyway
	}
	for {
		select {
		case b := <-c.send:
			if b != nil && !c.write(b) {
				return
			}
			continue
		default:
		}
		break
	}
	_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(c.closeCode, c.closeReason),
		time.Now().Add(writeWait))
}

// ping queues a ping unless the queue is full (then frames are flowing anyway).
func (c *client) ping() {
	select {
	case c.send <- nil:
		c.kick()
	default:
	}
}
