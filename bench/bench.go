// Package bench is hotline's load tool: many concurrent visitor connections asking questions
// in the six languages at a fixed rate against a running server, measured end to end.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hotline12367/hotline/client"
	"github.com/hotline12367/hotline/protocol"
)

// Config is one run.
type Config struct {
	URL      string        // ws://host:port/ws
	Conns    int           // concurrent connections to hold
	Rate     float64       // questions per second, over all connections (open loop)
	Duration time.Duration // how long to ask, once all connections are open
	// Sources is how many 127.0.0.x addresses to dial from (loopback servers only), so the
	// run is not limited by one address's ephemeral ports or the server's per-address cap.
	Sources int
	// DialRate bounds new connections per second while ramping up.
	DialRate float64
	Log      io.Writer // progress and warnings; the result goes to the writer given to Run
}

// Result is what Run prints as one JSON line.
type Result struct {
	Conns         int     `json:"conns"`
	Questions     int64   `json:"questions"`
	QPS           float64 `json:"qps"`
	P50           float64 `json:"p50_ms"`
	P99           float64 `json:"p99_ms"`
	Errors        int64   `json:"errors"`
	ServerRSS     float64 `json:"server_rss_mib"`
	ServerRSSIdle float64 `json:"server_rss_before_mib"`
	PerConnKiB    float64 `json:"server_kib_per_conn"`
	Unanswered    int64   `json:"unanswered"`
	Reconnects    int64   `json:"reconnects"`
	ReconnectMax  float64 `json:"reconnect_max_s"`
	StillDown     int64   `json:"still_down"` // connections lost and not back when the run ended
	FDLimit       uint64  `json:"fd_limit"`
	FDLimitHit    bool    `json:"fd_limit_hit"`
	// ServerP99 is the p99 of the server's own reply time over the asking (its
	// hotline_reply_seconds histogram, interpolated within a bucket as Prometheus does): from
	// reading a question to having its answer ready to send. p99_ms adds the network, the
	// kernel and this tool's own scheduling, which ServerP99 leaves out.
	ServerP99 float64 `json:"server_p99_ms"`
	// CPUSteal is the share of this machine's CPU time, in percent, that its hypervisor gave to
	// others while asking (from /proc/stat; 0 where that cannot be read). A virtual machine
	// whose neighbours are busy answers later than the same machine alone.
	CPUSteal float64 `json:"cpu_steal_pct"`
}

// questions is the corpus: a few questions per language. Each connection is one visitor, who
// asks in one language (connection i in the language i mod 6) the questions of that language
// in turn; together the connections ask in all six.
var questions = [][]string{
	{"144小时过境免签可以停留多久？", "五星卡有什么用？", "港澳居民可以在内地换证吗？"},
	{"How many ports offer 144-hour visa-free transit?", "What can the five-star card be used for?", "how do I contact 12367"},
	{"Combien de temps puis-je rester en transit sans visa ?", "Qu'est-ce que la carte cinq étoiles ?"},
	{"¿Cuántos días puedo quedarme en Hainan sin visado?", "¿Qué es el visado en puerto de entrada?"},
	{"Сколько длится безвизовый транзит 144 часа?", "Что такое карта постоянного жителя «пять звёзд»?"},
	{"ما هي مدة العبور بدون تأشيرة 144 ساعة؟", "ما هي بطاقة النجوم الخمس؟"},
}

// frame is what the tool reads of a server frame: decoding only these fields costs the tool,
// which shares the machine with the server it measures, a third less time and a quarter of
// the garbage of the whole frame (BenchmarkDecode).
type frame struct {
	Type    string `json:"type"`
	Message *struct {
		Seq  int64  `json:"seq"`
		From string `json:"from"`
	} `json:"message"`
	Messages []struct {
		Seq int64 `json:"seq"`
	} `json:"messages"`
	Error *struct {
		Code string `json:"code"`
	} `json:"error"`
}

// decode reads a frame into f. The frames the tool reads most, acks and messages, it reads
// from their first bytes as the server writes them (server/wire.go: an ack's type first; a
// message frame's type, conversation_id, then the message's seq, kind and from), without
// scanning the kilobyte of answer behind; anything else, or a frame in another shape, it
// decodes in full.
func (f *frame) decode(b []byte) error {
	const ack, msg = `{"type":"ack"`, `{"type":"message","conversation_id":"`
	if bytes.HasPrefix(b, []byte(ack)) && len(b) > len(ack) && (b[len(ack)] == ',' || b[len(ack)] == '}') {
		*f = frame{Type: protocol.TypeAck}
		return nil
	}
	if rest, ok := bytes.CutPrefix(b, []byte(msg)); ok {
		if seq, from, ok := quickMessage(rest); ok {
			*f = frame{Type: protocol.TypeMessage}
			f.Message = &struct {
				Seq  int64  `json:"seq"`
				From string `json:"from"`
			}{seq, from}
			return nil
		}
	}
	*f = frame{}
	return json.Unmarshal(b, f)
}

// quickMessage reads the seq and sender of a message frame after its conversation id's
// opening quote; ok is false when the frame goes on otherwise.
func quickMessage(b []byte) (seq int64, from string, ok bool) {
	end := bytes.IndexByte(b, '"') // ids are base32: no escapes
	if end < 0 {
		return 0, "", false
	}
	b, ok = bytes.CutPrefix(b[end+1:], []byte(`,"message":{"seq":`))
	if !ok {
		return 0, "", false
	}
	n := 0
	for n < len(b) && n < 19 && b[n] >= '0' && b[n] <= '9' {
		seq = seq*10 + int64(b[n]-'0')
		n++
	}
	if n == 0 {
		return 0, "", false
	}
	b, ok = bytes.CutPrefix(b[n:], []byte(`,"kind":"`))
	if !ok {
		return 0, "", false
	}
	if end = bytes.IndexByte(b, '"'); end < 0 {
		return 0, "", false
	}
	b, ok = bytes.CutPrefix(b[end+1:], []byte(`,"from":"`))
	if !ok {
		return 0, "", false
	}
	end = bytes.IndexByte(b, '"')
	if end < 0 || bytes.IndexByte(b[:end], '\\') >= 0 {
		return 0, "", false
	}
	switch role := b[:end]; string(role) { // no copy for the senders there are
	case protocol.FromBot:
		return seq, protocol.FromBot, true
	case protocol.FromVisitor:
		return seq, protocol.FromVisitor, true
	default:
		return seq, string(role), true
	}
}

// observe is Session.Observe for what the tool reads of a frame.
func (f *frame) observe(s *client.Session) {
	for _, m := range f.Messages {
		s.See(m.Seq)
	}
	if f.Message != nil {
		s.See(f.Message.Seq)
	}
}

// parallelDials is how many connections the ramp-up dials at once.
const parallelDials = 16

// reconnectSpread is the longest random pause before a lost connection reconnects.
const reconnectSpread = 3 * time.Second

type conn struct {
	id    int
	sess  client.Session
	local net.Addr

	mu      sync.Mutex
	c       *client.Conn
	pending []asked // questions not yet answered, oldest first
	n       int
}

// asked is a question waiting for its answer: when it was due, and what to send again if
// the server goes away before storing it.
type asked struct {
	due      time.Time
	id, text string
}

// Run opens the connections, asks at the configured rate for the duration, and writes one
// JSON line of results to out.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") {
		return fmt.Errorf("bench: -url must be ws://host:port/ws")
	}
	// The tool shares the machine with the server it measures: a collector running a quarter
	// as often disturbs both less (it holds a goroutine and buffers per connection too).
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	res := Result{}
	res.FDLimit = raiseFDLimit()
	if need := uint64(cfg.Conns) + 64; res.FDLimit > 0 && need > res.FDLimit {
		fmt.Fprintf(cfg.Log, "bench: the open-files limit is %d per process: at most about %d connections can be held (asked for %d)\n",
			res.FDLimit, res.FDLimit-64, cfg.Conns)
	}
	metricsURL := "http://" + u.Host + "/metrics"
	if u.Scheme == "wss" {
		metricsURL = "https://" + u.Host + "/metrics"
	}
	res.ServerRSSIdle = scrape(metricsURL).rss

	var sources []net.Addr
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() && ip.To4() != nil && cfg.Sources > 1 {
		for i := range cfg.Sources {
			sources = append(sources, &net.TCPAddr{IP: net.IPv4(127, 0, byte(i/250), byte(1+i%250))})
		}
	}

	var (
		errCount, reconnects, answered atomic.Int64
		downCount                      atomic.Int64 // connections lost and not back yet
		latMu                          sync.Mutex
		lat                            []float64
		maxReconnect                   atomic.Int64 // nanoseconds
	)
	conns := make([]*conn, 0, cfg.Conns)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup

	// answer counts the answer to cn's oldest question. cn.mu must be held.
	answer := func(cn *conn) {
		if len(cn.pending) == 0 {
			return
		}
		d := time.Since(cn.pending[0].due)
		cn.pending = cn.pending[1:]
		latMu.Lock()
		lat = append(lat, float64(d.Microseconds())/1000)
		latMu.Unlock()
		answered.Add(1)
	}

	// reader receives frames for one connection and reconnects it when the server goes away.
	reader := func(cn *conn) {
		defer wg.Done()
		for {
			cn.mu.Lock()
			c := cn.c
			cn.mu.Unlock()
			var f frame
			b, err := c.ReadBytes()
			if err == nil {
				err = f.decode(b)
			}
			if err == nil {
				if f.Type == protocol.TypeMessage && f.Message != nil && f.Message.From == protocol.FromBot {
					cn.mu.Lock()
					answer(cn)
					cn.mu.Unlock()
				} else if f.Type == protocol.TypeError && f.Error != nil && f.Error.Code != "restarting" {
					errCount.Add(1)
				}
				f.observe(&cn.sess)
				continue
			}
			if runCtx.Err() != nil {
				return
			}
			c.Close() // its descriptor is needed for the new connection
			// The connection is gone (a restart): reconnect with backoff and resume, after a
			// random pause, as the widget does, so that thousands of clients do not all knock at
			// the same instant.
			down := time.Now()
			downCount.Add(1)
			time.Sleep(time.Duration(rand.Int64N(int64(reconnectSpread))))
			backoff := 100 * time.Millisecond
			for {
				if runCtx.Err() != nil {
					return
				}
				dctx, dcancel := context.WithTimeout(runCtx, 10*time.Second)
				nc, err := client.Dial(dctx, cfg.URL, &cn.sess, client.Options{LocalAddr: cn.local})
				dcancel()
				if err == nil {
					cn.mu.Lock()
					cn.c = nc
					// As the widget does: the answers given while away are in the welcome's
					// replay, and the questions still unanswered are sent again with their ids
					// (a stored one is only acknowledged again, and answered by the server's
					// start-up if it was not yet). A question lost in a restart stays
					// unanswered and is counted so.
					for _, m := range nc.Welcome.Messages {
						if m.From == protocol.FromBot {
							answer(cn)
						}
					}
					for _, a := range cn.pending {
						nc.Send(a.id, a.text) // a failure ends the next read: reconnect again
					}
					cn.mu.Unlock()
					reconnects.Add(1)
					downCount.Add(-1)
					d := int64(time.Since(down))
					for {
						old := maxReconnect.Load()
						if d <= old || maxReconnect.CompareAndSwap(old, d) {
							break
						}
					}
					break
				}
				time.Sleep(backoff + time.Duration(rand.Int64N(int64(backoff))))
				backoff = min(backoff*2, time.Second)
			}
		}
	}

	// Ramp up: dialers open the connections at the dial rate, a few at a time (a handshake
	// takes a round trip and a stored greeting), as a crowd of visitors arriving would.
	dialEvery := time.Duration(float64(time.Second) / max(cfg.DialRate, 1))
	start := time.Now()
	var (
		rampMu      sync.Mutex
		consecutive int // dial failures in a row
		stopRamp    bool
		rampErr     error
	)
	dials := make(chan int)
	var dialers sync.WaitGroup
	for range parallelDials {
		dialers.Add(1)
		go func() {
			defer dialers.Done()
			for i := range dials {
				cn := &conn{id: i}
				if len(sources) > 0 {
					cn.local = &net.TCPAddr{IP: sources[i%len(sources)].(*net.TCPAddr).IP}
				}
				dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
				c, err := client.Dial(dctx, cfg.URL, &cn.sess, client.Options{LocalAddr: cn.local})
				dcancel()
				rampMu.Lock()
				switch {
				case err == nil:
					consecutive = 0
					cn.c = c
					conns = append(conns, cn)
					wg.Add(1)
					go reader(cn)
					if n := len(conns); n%2000 == 0 {
						fmt.Fprintf(cfg.Log, "bench: %d connections open\n", n)
					}
				case stopRamp:
				case errors.Is(err, syscall.EMFILE) || strings.Contains(err.Error(), "too many open files"):
					res.FDLimitHit, stopRamp = true, true
					fmt.Fprintf(cfg.Log, "bench: hit the open-files limit (%d) after %d connections; holding those\n", res.FDLimit, len(conns))
				default:
					errCount.Add(1)
					consecutive++
					fmt.Fprintf(cfg.Log, "bench: dial %d: %v\n", i, err)
					if consecutive >= 3*parallelDials && len(conns) > 0 {
						// The server stopped completing handshakes: most often its own open-files
						// limit (each connection holds a descriptor there too).
						stopRamp = true
						fmt.Fprintf(cfg.Log, "bench: the server stopped accepting after %d connections (its open-files limit?); holding those\n", len(conns))
					} else if errCount.Load() > 100 {
						stopRamp, rampErr = true, fmt.Errorf("bench: too many dial errors, last: %w", err)
					}
				}
				rampMu.Unlock()
			}
		}()
	}
	for i := range cfg.Conns {
		rampMu.Lock()
		stop := stopRamp
		rampMu.Unlock()
		if stop || ctx.Err() != nil {
			break
		}
		dials <- i
		if at := start.Add(time.Duration(i+1) * dialEvery); time.Until(at) > 0 {
			time.Sleep(time.Until(at))
		}
	}
	close(dials)
	dialers.Wait()
	if rampErr != nil {
		return rampErr
	}
	res.Conns = len(conns)
	if len(conns) == 0 {
		return errors.New("bench: no connection could be opened")
	}
	fmt.Fprintf(cfg.Log, "bench: %d connections open after %s; asking at %.0f/s for %s\n",
		len(conns), time.Since(start).Round(time.Millisecond), cfg.Rate, cfg.Duration)

	// Ask: open loop, one question every 1/rate seconds, whatever the answers do.
	var sent atomic.Int64
	interval := time.Duration(float64(time.Second) / max(cfg.Rate, 0.001))
	askStart := time.Now()
	before, cpuBefore := scrape(metricsURL), readCPU()
	deadline := askStart.Add(cfg.Duration)
	next := askStart
	i := 0
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		// Catch up without bursting past the schedule when the sender falls behind.
		for ; !next.After(time.Now()) && next.Before(deadline); next = next.Add(interval) {
			cn := conns[i%len(conns)]
			i++
			cn.mu.Lock()
			cn.n++
			id := "b" + strconv.Itoa(cn.id) + "-" + strconv.Itoa(cn.n)
			qs := questions[cn.id%len(questions)]
			q := qs[cn.n%len(qs)]
			// Latency counts from when the question was due, not from when it went: a sender
			// that fell behind (a stalled machine) must not hide the wait it caused.
			// A question asked while the connection is down waits for it, as in the widget:
			// the reconnect sends every unanswered question again.
			cn.pending = append(cn.pending, asked{due: next, id: id, text: q})
			cn.c.Send(id, q)
			cn.mu.Unlock()
			sent.Add(1)
		}
	}
	elapsed := time.Since(askStart)
	// Wait briefly for the last answers.
	drainUntil := time.Now().Add(3 * time.Second)
	for time.Now().Before(drainUntil) && answered.Load() < sent.Load() {
		time.Sleep(20 * time.Millisecond)
	}
	after, cpuAfter := scrape(metricsURL), readCPU()
	res.ServerRSS = after.rss
	res.ServerP99 = round(1000*after.reply.sub(before.reply).quantile(0.99), 2)
	res.CPUSteal = round(cpuAfter.stealPct(cpuBefore), 1)
	cancel()
	for _, cn := range conns {
		cn.mu.Lock()
		cn.c.Close()
		cn.mu.Unlock()
	}
	wg.Wait()

	latMu.Lock()
	slices.Sort(lat)
	latMu.Unlock()
	res.Questions = sent.Load()
	res.QPS = round(float64(answered.Load())/elapsed.Seconds(), 1)
	res.P50 = round(percentile(lat, 0.50), 2)
	res.P99 = round(percentile(lat, 0.99), 2)
	res.Errors = errCount.Load()
	res.Unanswered = sent.Load() - answered.Load()
	res.Reconnects = reconnects.Load()
	res.StillDown = downCount.Load()
	res.ReconnectMax = round(time.Duration(maxReconnect.Load()).Seconds(), 2)
	if res.Conns > 0 && res.ServerRSS > 0 {
		res.PerConnKiB = round((res.ServerRSS-res.ServerRSSIdle)*1024/float64(res.Conns), 1)
	}
	res.ServerRSS, res.ServerRSSIdle = round(res.ServerRSS, 1), round(res.ServerRSSIdle, 1)
	enc := json.NewEncoder(out)
	return enc.Encode(res)
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

func round(v float64, digits int) float64 {
	s := strconv.FormatFloat(v, 'f', digits, 64)
	r, _ := strconv.ParseFloat(s, 64)
	return r
}

// metrics is what the tool reads of the server's Prometheus metrics.
type metrics struct {
	rss   float64   // resident memory, MiB
	reply histogram // hotline_reply_seconds
}

// histogram is a Prometheus histogram's cumulative buckets, in the order scraped.
type histogram []bucket

type bucket struct {
	le    float64 // upper bound, seconds (+Inf for the last)
	count float64 // observations at or below le
}

// sub returns h minus an earlier scrape of the same histogram: what was observed between.
// When the server restarted between (its counts went down), that is h alone.
func (h histogram) sub(earlier histogram) histogram {
	if len(earlier) != len(h) || len(h) == 0 || h[len(h)-1].count < earlier[len(h)-1].count {
		return h
	}
	d := make(histogram, len(h))
	for i, b := range h {
		d[i] = bucket{le: b.le, count: b.count - earlier[i].count}
	}
	return d
}

// quantile estimates the q-quantile as Prometheus's histogram_quantile does: linearly within
// the bucket that holds it. It returns 0 for an empty histogram and the highest finite bound
// when the quantile falls in the +Inf bucket.
func (h histogram) quantile(q float64) float64 {
	if len(h) == 0 || h[len(h)-1].count == 0 {
		return 0
	}
	rank := q * h[len(h)-1].count
	lo, below := 0.0, 0.0
	for _, b := range h {
		if b.count >= rank {
			if math.IsInf(b.le, 1) {
				return lo
			}
			if b.count == below {
				return b.le
			}
			return lo + (b.le-lo)*(rank-below)/(b.count-below)
		}
		lo, below = b.le, b.count
	}
	return lo
}

// scrape reads the server's metrics (zero values for what cannot be read).
func scrape(metricsURL string) metrics {
	var m metrics
	resp, err := http.Get(metricsURL)
	if err != nil {
		return m
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<22))
	if err != nil {
		return m
	}
	return parseMetrics(string(b))
}

func parseMetrics(text string) metrics {
	var m metrics
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, "process_resident_memory_bytes "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			m.rss = f / (1 << 20)
		}
		if rest, ok := strings.CutPrefix(line, `hotline_reply_seconds_bucket{le="`); ok {
			le, count, ok := strings.Cut(rest, `"} `)
			if !ok {
				continue
			}
			b := bucket{}
			var err1, err2 error
			if le == "+Inf" {
				b.le = math.Inf(1)
			} else {
				b.le, err1 = strconv.ParseFloat(le, 64)
			}
			b.count, err2 = strconv.ParseFloat(strings.TrimSpace(count), 64)
			if err1 == nil && err2 == nil {
				m.reply = append(m.reply, b)
			}
		}
	}
	return m
}

// cpuTimes is the machine's CPU time so far, from the first line of /proc/stat, in ticks.
type cpuTimes struct{ total, steal float64 }

func readCPU() cpuTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpuTimes{}
	}
	var t cpuTimes
	for i, v := range f[1:] {
		if i >= 8 { // guest time is counted in user time already
			break
		}
		x, _ := strconv.ParseFloat(v, 64)
		t.total += x
		if i == 7 {
			t.steal = x
		}
	}
	return t
}

func (t cpuTimes) stealPct(earlier cpuTimes) float64 {
	if d := t.total - earlier.total; d > 0 {
		return 100 * (t.steal - earlier.steal) / d
	}
	return 0
}

// raiseFDLimit raises the soft open-files limit to the hard one and returns it.
func raiseFDLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
	return l.Cur
}
