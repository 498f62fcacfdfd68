package server

import (
	"errors"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// poller holds idle visitor connections without a goroutine each. A connection's reader,
// finding nothing more to read, parks the connection here and exits; when the socket becomes
// readable (a frame, a pong, a close, a reset) the poller starts a reader again. A goroutine
// blocked in a read keeps a stack of 4 KiB or more for as long as it waits, and a server
// holding 20,000 mostly quiet visitors would keep 80 MiB of stacks for them, and have the
// garbage collector scan them all in every cycle.
//
// It is an epoll instance of its own, beside the Go runtime's: each socket is registered
// one-shot (it reports once, then waits to be re-armed by the next park) under a key of its
// own rather than its descriptor, since a descriptor's number comes back with the next
// connection once it is closed.
type poller struct {
	ep  *os.File        // the epoll instance, waited on through the Go runtime's poller
	raw syscall.RawConn // ep's descriptor

	mu      sync.Mutex
	parked  map[uint64]*client
	nextKey uint64
	closed  bool
	done    chan struct{}

	// Readers run on a few long-lived goroutines while one is free, and on a new one each
	// otherwise: a new goroutine's stack starts small and grows (copied each time) through
	// decoding, answering and writing, for every frame.
	work    chan *client // unbuffered: a send succeeds only when a reader waits
	quit    chan struct{}
	workers sync.WaitGroup
}

// readWorkers is how many long-lived reader goroutines wait for woken connections.
const readWorkers = 16

func newPoller() (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	// Non-blocking, so that os.NewFile hands it to the runtime's poller: the loop's goroutine
	// then waits parked like any other, rather than in epoll_wait on a thread that keeps its
	// P, stranding the readers it has just started until the runtime takes the P back.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, err
	}
	p := &poller{ep: os.NewFile(uintptr(epfd), "epoll"), parked: map[uint64]*client{}, nextKey: 1, done: make(chan struct{}),
		work: make(chan *client), quit: make(chan struct{})}
	if p.raw, err = p.ep.SyscallConn(); err != nil {
		p.ep.Close()
		return nil, err
	}
	go p.loop()
	p.workers.Add(readWorkers)
	for range readWorkers {
		go p.reader()
	}
	return p, nil
}

// reader reads woken connections until the poller closes.
func (p *poller) reader() {
	defer p.workers.Done()
	for {
		select {
		case c := <-p.work:
			c.read(true)
		case <-p.quit:
			return
		}
	}
}

// start runs a woken connection's reader on a waiting worker, or on a goroutine of its own
// when none waits.
func (p *poller) start(c *client) {
	select {
	case p.work <- c:
	default:
		go c.read(true)
	}
}

func setKey(ev *unix.EpollEvent, key uint64) {
	ev.Fd, ev.Pad = int32(uint32(key)), int32(uint32(key>>32))
}

func getKey(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// pollState is what the poller keeps on a connection; only the connection's reader (one at a
// time) touches it.
type pollState struct {
	raw   syscall.RawConn // nil: the connection cannot be parked
	key   uint64
	added bool // registered with the epoll instance
}

// watch prepares a connection for parking; connections that are not plain sockets are read
// by a goroutine of their own all along.
func (p *poller) watch(c *client) {
	sc, ok := c.conn.NetConn().(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	p.mu.Lock()
	c.poll.key = p.nextKey
	p.nextKey++
	p.mu.Unlock()
	c.poll.raw = raw
}

// park hands the connection to the poller. It reports false when it cannot (the caller goes
// on reading); after true, the caller must leave the connection alone: another reader may
// already have started.
func (p *poller) park(c *client) bool {
	if c.poll.raw == nil {
		return false
	}
	op := unix.EPOLL_CTL_MOD
	if !c.poll.added {
		op = unix.EPOLL_CTL_ADD
	}
	// Written before parked is set: the reader the poller starts reads it after the swap.
	c.poll.added = true
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.poll.added = op == unix.EPOLL_CTL_MOD
		return false
	}
	p.parked[c.poll.key] = c
	p.mu.Unlock()
	c.parked.Store(true)
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT}
	setKey(&ev, c.poll.key)
	var err error
	// Inside Control a descriptor cannot be closed (and its number reused) under us.
	var cerr error
	perr := p.raw.Control(func(epfd uintptr) {
		cerr = c.poll.raw.Control(func(fd uintptr) { err = unix.EpollCtl(int(epfd), op, int(fd), &ev) })
	})
	if perr == nil && cerr == nil && err == nil {
		return true
	}
	p.forget(c)
	if !c.parked.CompareAndSwap(true, false) {
		return true // closeConn took it over in between, and started a reader
	}
	c.poll.added = op == unix.EPOLL_CTL_MOD
	return false
}

// forget drops a parked connection (it is being closed, or woken).
func (p *poller) forget(c *client) {
	p.mu.Lock()
	delete(p.parked, c.poll.key)
	p.mu.Unlock()
}

func (p *poller) loop() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 256)
	for {
		var n int
		// Read calls the function again each time the epoll instance becomes readable, until
		// it reports done; it fails once the instance is closed.
		err := p.raw.Read(func(fd uintptr) bool {
			var err error
			n, err = unix.EpollWait(int(fd), events, 0)
			return n > 0 || err != nil && !errors.Is(err, unix.EINTR)
		})
		if err != nil {
			return
		}
		p.wake(events[:n])
	}
}

// poll starts readers for the connections that have something to read now, without waiting.
// Readers call it as they park: while every P is busy, the runtime looks at its network poller
// (and so wakes loop) only every 10 ms, and frames that came meanwhile would wait for that,
// then all start at once and wait for each other. A reader that has just finished one finds
// them as they come.
func (p *poller) poll() {
	var events [16]unix.EpollEvent
	n := 0
	if p.raw.Control(func(fd uintptr) { n, _ = unix.EpollWait(int(fd), events[:], 0) }) != nil {
		return
	}
	p.wake(events[:max(n, 0)])
}

// wake starts a reader for each connection with an event.
func (p *poller) wake(events []unix.EpollEvent) {
	for i := range events {
		key := getKey(&events[i])
		p.mu.Lock()
		c := p.parked[key]
		delete(p.parked, key)
		p.mu.Unlock()
		if c != nil {
			c.unpark()
		}
	}
}

// close stops the loop; connections still parked are woken, so that their readers find their
// sockets closed and end them.
func (p *poller) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	parked := p.parked
	p.parked = map[uint64]*client{}
	p.mu.Unlock()
	p.ep.Close()
	<-p.done
	for _, c := range parked {
		c.unpark()
	}
	close(p.quit)
	p.workers.Wait()
}
