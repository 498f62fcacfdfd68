package wechat

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// HandlerConfig configures a [Handler]. Token and Deliver are required.
type HandlerConfig struct {
	// Token is the message-push Token (令牌) set in the mini-program console.
	Token string
	// AESKey is the 43-character EncodingAESKey. Set it when the console's
	// encryption mode is compatible (兼容模式) or safe (安全模式): the Handler
	// then accepts only encrypted pushes. Leave it empty for plain mode
	// (明文模式).
	AESKey string
	// AppID is the mini-program's appid; required with AESKey, since every
	// ciphertext ends with it.
	AppID string
	// Deliver receives each new message, once, on one of the Handler's
	// workers, never on the goroutine answering WeChat. Messages from one user
	// are delivered in the order they arrived. ctx is canceled when a
	// Shutdown runs out of time; Deliver should then return promptly.
	Deliver func(ctx context.Context, m Message)
	// Dedup drops WeChat's retries. If nil, a MemoryDedup remembering 10000
	// keys for 10 minutes is used.
	Dedup Deduper
	// Logger receives the Handler's logs. Secrets, signatures and message
	// content are never logged; openids only at debug level. If nil, logs are
	// discarded.
	Logger *slog.Logger
	// Workers is the number of delivery goroutines (default 8), and
	// QueueSize the number of messages each may hold waiting (default 64).
	// When a worker's queue is full the push is refused with 503, and WeChat
	// retries it.
	Workers   int
	QueueSize int
	// Now is the clock of the default Dedup (time.Now if nil).
	Now func() time.Time
}

// Handler is the http.Handler for /wechat/callback, the message-push URL of a
// mini-program.
//
// A GET is WeChat's URL verification: the Handler echoes echostr when the
// signature is right and answers 403 otherwise. A POST is a push: the Handler
// checks its signature (403 if wrong or missing, with no other effect),
// decrypts it in safe or compatible mode (400 if the ciphertext is bad),
// parses it (400 if malformed), answers "success" at once and queues the
// message for Deliver. Retries of a message already delivered are answered
// "success" and dropped.
//
// The Handler owns its worker goroutines: they start in NewHandler and exit
// in Shutdown or Close, after the queues drain. Create it with [NewHandler].
type Handler struct {
	token   string
	cipher  *Cipher // nil in plain mode
	deliver func(ctx context.Context, m Message)
	dedup   Deduper
	log     *slog.Logger

	// mu guards closed and sending on queues: ServeHTTP sends under RLock,
	// Shutdown closes the queues under Lock, so no send hits a closed
	// channel.
	mu     sync.RWMutex
	closed bool
	queues []chan Message

	cancel   context.CancelFunc // cancels the workers' context
	done     chan struct{}      // closed when every worker has returned
	stopOnce sync.Once
}

// NewHandler returns a Handler for cfg and starts its workers. It returns an
// error if Token or Deliver is missing or the AESKey is invalid.
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	if cfg.Token == "" {
		return nil, errors.New("wechat: handler needs a token")
	}
	if cfg.Deliver == nil {
		return nil, errors.New("wechat: handler needs a Deliver func")
	}
	h := &Handler{
		token:   cfg.Token,
		deliver: cfg.Deliver,
		dedup:   cfg.Dedup,
		log:     cfg.Logger,
		done:    make(chan struct{}),
	}
	if cfg.AESKey != "" {
		c, err := NewCipher(cfg.AESKey, cfg.AppID)
		if err != nil {
			return nil, err
		}
		h.cipher = c
	}
	if h.dedup == nil {
		h.dedup = NewMemoryDedup(10000, 10*time.Minute, cfg.Now)
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	workers, size := cfg.Workers, cfg.QueueSize
	if workers <= 0 {
		workers = 8
	}
	if size <= 0 {
		size = 64
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.queues = make([]chan Message, workers)
	var wg sync.WaitGroup
	for i := range h.queues {
		q := make(chan Message, size)
		h.queues[i] = q
		wg.Go(func() { h.work(ctx, q) })
	}
	go func() {
		wg.Wait()
		close(h.done)
	}()
	return h, nil
}

// ServeHTTP answers WeChat's URL verification (GET) and pushes (POST); any
// other method gets 405.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		h.verify(w, r)
	case http.MethodPost:
		h.push(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// verify answers the URL verification WeChat sends when the push URL is
// saved in the console.
func (h *Handler) verify(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !validSignature(q.Get("signature"), h.token, q.Get("timestamp"), q.Get("nonce")) {
		h.log.Warn("wechat: url verification refused: bad signature")
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	h.log.Info("wechat: url verification accepted")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, q.Get("echostr"))
}

// push handles one POSTed push.
func (h *Handler) push(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ts, nonce := q.Get("timestamp"), q.Get("nonce")

	// The plain signature covers no body, only the query: check it before
	// reading anything. In safe mode WeChat sends it too.
	sig, hasSig := q["signature"]
	if h.cipher == nil || hasSig {
		if !hasSig || !validSignature(sig[0], h.token, ts, nonce) {
			h.log.Warn("wechat: push refused: bad signature")
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
	}
	if h.cipher != nil && q.Get("encrypt_type") != "aes" {
		h.log.Warn("wechat: push refused: not encrypted but an AES key is configured; set the console to safe mode or drop the AES key")
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			h.log.Warn("wechat: push refused: body too large")
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		h.log.Warn("wechat: push refused: reading body", "err", err)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	ctype := r.Header.Get("Content-Type")

	var m Message
	if h.cipher != nil {
		env, err := ParseEnvelope(body, ctype)
		if err != nil {
			h.log.Warn("wechat: push refused: malformed envelope", "err", err)
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if !validSignature(q.Get("msg_signature"), h.token, ts, nonce, env.Encrypt) {
			h.log.Warn("wechat: push refused: bad msg_signature")
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		inner, err := h.cipher.Decrypt(env.Encrypt)
		if err != nil {
			// Signed with our token but not decryptable with our key:
			// a wrong EncodingAESKey or appid, or a forgery.
			h.log.Warn("wechat: push refused: cannot decrypt", "err", err)
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		m, err = ParseMessage(inner, ctype)
		if err != nil {
			h.log.Warn("wechat: push refused: malformed message", "err", err)
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
	} else {
		m, err = ParseMessage(body, ctype)
		if err != nil {
			h.log.Warn("wechat: push refused: malformed message", "err", err)
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if m.MsgType == "" && q.Get("encrypt_type") == "aes" {
			h.log.Error("wechat: push is encrypted but no AES key is configured; set -wechat-aes-key and -wechat-appid")
			http.Error(w, "not configured for encrypted pushes", http.StatusInternalServerError)
			return
		}
	}

	if err := h.enqueue(m); err != nil {
		h.log.Warn("wechat: push refused", "err", err)
		http.Error(w, "busy, retry later", http.StatusServiceUnavailable)
		return
	}
	h.log.Debug("wechat: push accepted", "msg_type", m.MsgType, "event", m.Event, "from", m.FromUserName)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "success")
}

var (
	errClosed    = errors.New("handler is shut down")
	errQueueFull = errors.New("delivery queue is full")
)

// enqueue hands m to the worker of its sender without blocking. Messages of
// one user always go to the same worker, so they keep their order.
func (h *Handler) enqueue(m Message) error {
	hash := fnv.New32a()
	io.WriteString(hash, m.FromUserName)
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		return errClosed
	}
	select {
	case h.queues[hash.Sum32()%uint32(len(h.queues))] <- m:
		return nil
	default:
		return errQueueFull
	}
}

// work delivers the messages of q until q is closed and drained. Retries
// are dropped here rather than in ServeHTTP, so that a push refused with 503
// is not remembered and its retry still gets through. Once ctx is canceled,
// what is left in q is dropped.
func (h *Handler) work(ctx context.Context, q <-chan Message) {
	dropped := 0
	for m := range q {
		if ctx.Err() != nil {
			dropped++
			continue
		}
		if h.dedup.Seen(m.DedupKey()) {
			h.log.Debug("wechat: duplicate push dropped", "key", m.DedupKey())
			continue
		}
		h.deliverOne(ctx, m)
	}
	if dropped > 0 {
		h.log.Warn("wechat: queued pushes dropped at shutdown", "count", dropped)
	}
}

// deliverOne calls Deliver, turning a panic into a log line so that one bad
// message does not stop the worker.
func (h *Handler) deliverOne(ctx context.Context, m Message) {
	defer func() {
		if v := recover(); v != nil {
			h.log.Error("wechat: Deliver panicked", "panic", fmt.Sprint(v), "msg_type", m.MsgType)
		}
	}()
	h.deliver(ctx, m)
}

// Shutdown stops accepting pushes (later ones get 503, so WeChat retries them
// elsewhere or later) and waits for the workers to deliver what is queued and
// return. If ctx ends first, Shutdown cancels the context passed to Deliver,
// drops what is still queued, waits for the running Deliver calls to return
// and returns ctx.Err(). It returns nil otherwise. Calling it again waits
// again.
func (h *Handler) Shutdown(ctx context.Context) error {
	h.stopOnce.Do(func() {
		h.mu.Lock()
		h.closed = true
		for _, q := range h.queues {
			close(q)
		}
		h.mu.Unlock()
	})
	select {
	case <-h.done:
		h.cancel()
		return nil
	case <-ctx.Done():
		h.cancel()
		<-h.done
		return ctx.Err()
	}
}

// Close is Shutdown without a deadline: it returns once every queued and
// in-flight delivery has finished. It always returns nil.
func (h *Handler) Close() error {
	return h.Shutdown(context.Background())
}
