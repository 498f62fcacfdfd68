// Package server is hotline's HTTP and WebSocket edge: the answer API, the visitor chat over
// WebSocket, health, readiness and metrics.
package server

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hotline12367/hotline/kb"
	"github.com/hotline12367/hotline/locales"
	"github.com/hotline12367/hotline/store"
)

// Store is what the server needs of the database; store.SQLite implements it, and a
// PostgreSQL implementation can follow.
type Store interface {
	CreateConversation(ctx context.Context, c store.Conversation, first ...store.Message) error
	Conversation(ctx context.Context, id string) (store.Conversation, error)
	ConversationByToken(ctx context.Context, hash []byte) (store.Conversation, error)
	SetLang(ctx context.Context, id, lang, script string, chosen bool) error
	SetState(ctx context.Context, id, state string, at time.Time) error
	SetTokenExpiry(ctx context.Context, id string, at time.Time) error
	AppendAll(ctx context.Context, msgs []store.Message) ([]store.Message, error)
	AppendAllLang(ctx context.Context, msgs []store.Message, lang, script string) ([]store.Message, error)
	MessagesAfter(ctx context.Context, conversationID string, after int64, limit int) ([]store.Message, error)
	Message(ctx context.Context, conversationID string, seq int64) (store.Message, error)
	SaveFeedback(ctx context.Context, conversationID string, seq int64, helpful bool, at time.Time) error
	// The human-agent queue and the console.
	Agent(ctx context.Context, id string) (store.Agent, error)
	AgentByName(ctx context.Context, name string) (store.Agent, error)
	Agents(ctx context.Context) ([]store.Agent, error)
	CreateSession(ctx context.Context, a store.AgentSession) error
	Session(ctx context.Context, hash []byte) (store.AgentSession, error)
	DeleteSession(ctx context.Context, hash []byte) error
	Enqueue(ctx context.Context, e store.QueueEntry) error
	Assign(ctx context.Context, a store.Assignment) error
	Unqueue(ctx context.Context, conversationID, state, resolution string, at time.Time) error
	QueueState(ctx context.Context) ([]store.QueueEntry, []store.Assignment, error)
	AddNote(ctx context.Context, n store.Note) error
	Notes(ctx context.Context, conversationID string) ([]store.Note, error)
	LeaveMessage(ctx context.Context, m store.LeftMessage) error
	LeftMessages(ctx context.Context, limit int) ([]store.LeftMessage, error)
	IdleConversations(ctx context.Context, before time.Time, limit int) ([]string, error)
	Unanswered(ctx context.Context, limit int) ([]string, error)
}

var _ Store = (*store.SQLite)(nil)

// Config holds the server's settings; zero values take the defaults of DefaultConfig.
type Config struct {
	// Origins lists the origins (scheme://host[:port]) whose pages may open the chat; "*"
	// allows any. Empty allows only the server's own host.
	Origins []string
	// MaxConnsPerIP caps simultaneous WebSocket connections from one address (0: no cap).
	MaxConnsPerIP int
	// MaxConns caps simultaneous WebSocket connections in all (0: no cap). Every connection
	// holds a descriptor, and the store needs some of its own (a journal segment, a database
	// connection): serve sets it a little under the open-files limit, so that a crowd
	// reconnecting is told to try again rather than the store failing to open a file.
	MaxConns int
	// MessageRate and MessageBurst limit each connection's messages per second.
	MessageRate  float64
	MessageBurst int
	// IPMessageRate and IPMessageBurst limit the messages of all connections of one address.
	IPMessageRate  float64
	IPMessageBurst int
	// IdleTimeout closes conversations with nothing new for that long.
	IdleTimeout time.Duration
	// TokenTTL is how long a resume token works after the conversation's last activity.
	TokenTTL time.Duration
	// SendQueue is how many frames may wait for a slow client before it is disconnected.
	SendQueue int
	// Workers is how many goroutines answer questions. A worker waits for the store while a
	// question is stored, so there are many: a pause of the store must not leave questions
	// queued behind the workers it holds.
	Workers int
	// ShutdownTimeout bounds how long Shutdown waits for connections to drain.
	ShutdownTimeout time.Duration
	// AgentGrace is how long an agent's conversations wait for them after their console
	// disconnects, before going back to the front of the queue.
	AgentGrace time.Duration
	// VisitorGrace is how long a waiting visitor may be away (a reload, a tunnel) before
	// leaving the queue.
	VisitorGrace time.Duration
	// MaxWait is the estimated wait beyond which visitors are offered the phone line and a
	// message instead.
	MaxWait time.Duration
	// AnswerCache is how many recent answers are kept (0: none).
	AnswerCache int
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		MaxConnsPerIP:   100,
		MessageRate:     1,
		MessageBurst:    5,
		IPMessageRate:   20,
		IPMessageBurst:  40,
		IdleTimeout:     30 * time.Minute,
		TokenTTL:        7 * 24 * time.Hour,
		SendQueue:       32,
		Workers:         256,
		ShutdownTimeout: 10 * time.Second,
		AgentGrace:      time.Minute,
		VisitorGrace:    2 * time.Minute,
		MaxWait:         15 * time.Minute,
		AnswerCache:     4096,
	}
}

// Answerer answers questions; *kb.Engine is one.
type Answerer interface {
	Ask(q kb.Query) (kb.Answer, error)
}

// Server serves hotline. Create it with New; it owns the conversations' live state (the hub)
// and the answer workers, which stop with Shutdown.
type Server struct {
	cfg     Config
	engine  Answerer
	cat     *locales.Catalog
	store   Store
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics
	poller  atomic.Pointer[poller] // set by Start where the system has one (poll_linux.go)
	hub     *hub
	limits  *ipLimits
	logins  *loginLimiter
	cache   *answerCache
	ready   chan struct{}
	// channels reach visitors without a WebSocket (WeChat), by channel name; set before Start.
	channels map[string]*channel

	mux       *http.ServeMux
	closing   chan struct{}
	closeOnce sync.Once
}

// Options are New's collaborators.
type Options struct {
	Engine  Answerer
	Catalog *locales.Catalog
	Store   Store
	Logger  *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// New returns a server; call Start to begin its background work.
func New(cfg Config, o Options) *Server {
	def := DefaultConfig()
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = def.SendQueue
	}
	if cfg.Workers <= 0 {
		cfg.Workers = def.Workers
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = def.IdleTimeout
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = def.TokenTTL
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = def.ShutdownTimeout
	}
	if cfg.AgentGrace <= 0 {
		cfg.AgentGrace = def.AgentGrace
	}
	if cfg.VisitorGrace <= 0 {
		cfg.VisitorGrace = def.VisitorGrace
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = def.MaxWait
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg: cfg, engine: o.Engine, cat: o.Catalog, store: o.Store, log: o.Logger, now: o.Now,
		metrics: newMetrics(), ready: make(chan struct{}), closing: make(chan struct{}),
		channels: map[string]*channel{},
	}
	s.limits = newIPLimits(cfg, o.Now)
	s.logins = &loginLimiter{now: o.Now, m: map[string][]time.Time{}}
	s.cache = newAnswerCache(cfg.AnswerCache)
	s.hub = newHub(s)
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.handleReady)
	s.mux.HandleFunc("/api/v1/ask", s.handleAsk)
	s.mux.HandleFunc("GET /api/v1/strings/{lang}", s.handleStrings)
	s.mux.HandleFunc("GET /ws", s.handleWS)
	s.mux.HandleFunc("GET /agent/ws", s.handleAgentWS)
	s.mux.HandleFunc("POST /console/api/login", s.handleLogin)
	s.mux.HandleFunc("POST /console/api/logout", s.requireAgent(s.handleLogout))
	s.mux.HandleFunc("GET /console/api/me", s.requireAgent(s.handleMe))
	s.mux.HandleFunc("GET /console/api/left-messages", s.requireAgent(s.handleLeftMessages))
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	return s
}

// Handle adds a handler to the server's routes (the web pages, the WeChat bridge).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// ServeHTTP serves every route.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	s.mux.ServeHTTP(w, r)
}

// Start begins the background work (answer workers, the idle janitor, answering questions
// left unanswered by the previous run) and marks the server ready. It returns when ctx ends or
// Shutdown is called.
func (s *Server) Start(ctx context.Context) {
	if p, err := newPoller(); err == nil {
		s.poller.Store(p)
	} else if runtime.GOOS == "linux" {
		s.log.Warn("idle connections keep a reader goroutine each", "err", err)
	}
	s.hub.start(ctx)
	close(s.ready)
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	// Closing wins over ready: a select with both ready would pick at random.
	select {
	case <-s.closing:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "shutting down"})
		return
	default:
	}
	select {
	case <-s.ready:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	default:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting"})
	}
}

// Shutdown tells every connected client to reconnect (close code 1012), lets in-flight
// answers finish and be stored, and returns when all is done or ctx ends. The caller stops
// the http.Server first, so no new connection arrives, and closes the store after.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() { close(s.closing) })
	err := s.hub.shutdown(ctx)
	for _, ch := range s.channels {
		ch.close()
	}
	if p := s.poller.Load(); p != nil {
		p.close()
	}
	return err
}

// ErrShuttingDown is returned for work refused because the server is stopping.
var ErrShuttingDown = errors.New("server: shutting down")

func newToken() string {
	return rand.Text() + rand.Text() // 2 × 128 bits, base32
}

func newID() string {
	return strings.ToLower(rand.Text()[:20]) // 100 bits
}

// entry returns a knowledge base entry by id, when the answerer has entries.
func (s *Server) entry(id string) *kb.Entry {
	if e, ok := s.engine.(interface{ Entry(string) *kb.Entry }); ok {
		return e.Entry(id)
	}
	return nil
}

// RequireAgent wraps the console's pages: without a console session, the browser goes to
// loginPath instead.
func (s *Server) RequireAgent(loginPath string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, err := s.session(r.Context(), r); err != nil {
			http.Redirect(w, r, loginPath, http.StatusSeeOther)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
