package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hotline12367/hotline/kb"
	"github.com/hotline12367/hotline/locales"
	"github.com/hotline12367/hotline/server"
	"github.com/hotline12367/hotline/store"
	"github.com/hotline12367/hotline/web"
	"github.com/hotline12367/hotline/web/console"
)

// serveConfig is everything `hotline serve` reads from its flags and environment.
type serveConfig struct {
	Addr      string
	Data      string
	KB        string
	Threshold float64
	LogLevel  string
	DebugAddr string
	WeChat    wechatConfig
	Server    server.Config
}

// envDefault lets every flag be set from the environment as HOTLINE_NAME (dashes become
// underscores): flags win over the environment.
func envDefault(getenv func(string) string, name, def string) string {
	if v := getenv("HOTLINE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))); v != "" {
		return v
	}
	return def
}

func parseServe(args []string, getenv func(string) string, stderr io.Writer) (serveConfig, error) {
	def := server.DefaultConfig()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	str := func(name, value, usage string) *string {
		return fs.String(name, envDefault(getenv, name, value), usage+" (env HOTLINE_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_"))+")")
	}
	addr := str("addr", "127.0.0.1:8080", "address to listen on")
	data := str("data", "data", "directory for the database")
	kbDir := str("kb", "", "knowledge base directory (default: the embedded files)")
	threshold := str("threshold", strconv.FormatFloat(kb.DefaultThreshold, 'f', -1, 64), "confidence under which questions go to a person")
	origins := str("origins", "", "comma-separated origins whose pages may embed the chat (\"*\" for any); the server's own host is always allowed")
	maxConns := str("max-conns-per-ip", strconv.Itoa(def.MaxConnsPerIP), "simultaneous WebSocket connections per address (0: no cap)")
	maxAll := str("max-conns", "-1", "simultaneous WebSocket connections in all (0: no cap; -1: the open-files limit less "+strconv.Itoa(fdReserve)+" for the store's own files)")
	msgRate := str("msg-rate", strconv.FormatFloat(def.MessageRate, 'f', -1, 64), "messages per second per connection")
	msgBurst := str("msg-burst", strconv.Itoa(def.MessageBurst), "message burst per connection")
	ipRate := str("ip-msg-rate", strconv.FormatFloat(def.IPMessageRate, 'f', -1, 64), "messages per second per address (0: no limit)")
	ipBurst := str("ip-msg-burst", strconv.Itoa(def.IPMessageBurst), "message burst per address")
	idle := str("idle-timeout", def.IdleTimeout.String(), "close conversations idle this long")
	tokenTTL := str("token-ttl", def.TokenTTL.String(), "resume tokens expire this long after they are issued or last used to resume")
	workers := str("workers", strconv.Itoa(def.Workers), "goroutines that answer questions")
	cacheSize := str("answer-cache", strconv.Itoa(def.AnswerCache), "recent answers kept in memory (0: none)")
	logLevel := str("log-level", "info", "debug, info, warn or error")
	debugAddr := str("debug-addr", "", "address for net/http/pprof (empty: off); keep it private")
	var wc wechatConfig
	wcFlags := []struct {
		dst         *string
		name, usage string
		def         string
	}{
		{&wc.Token, "wechat-token", "WeChat message-push Token; empty: the WeChat bridge is off", ""},
		{&wc.AESKey, "wechat-aes-key", "WeChat EncodingAESKey (43 characters) for compatible or safe mode", ""},
		{&wc.AppID, "wechat-appid", "the mini-program's appid", ""},
		{&wc.Secret, "wechat-secret", "the mini-program's AppSecret", ""},
		{&wc.API, "wechat-api", "WeChat API base URL", "https://api.weixin.qq.com"},
	}
	for _, f := range wcFlags {
		fs.StringVar(f.dst, f.name, envDefault(getenv, f.name, f.def), f.usage+" (env HOTLINE_"+strings.ToUpper(strings.ReplaceAll(f.name, "-", "_"))+")")
	}
	if err := fs.Parse(args); err != nil {
		return serveConfig{}, err
	}
	c := serveConfig{Addr: *addr, Data: *data, KB: *kbDir, LogLevel: *logLevel, DebugAddr: *debugAddr, WeChat: wc, Server: def}
	var errs []error
	num := func(name, s string, dst *float64) {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v < 0 {
			errs = append(errs, fmt.Errorf("-%s: not a non-negative number: %q", name, s))
		}
		*dst = v
	}
	integer := func(name, s string, dst *int) {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			errs = append(errs, fmt.Errorf("-%s: not a non-negative integer: %q", name, s))
		}
		*dst = v
	}
	dur := func(name, s string, dst *time.Duration) {
		v, err := time.ParseDuration(s)
		if err != nil || v <= 0 {
			errs = append(errs, fmt.Errorf("-%s: not a duration: %q", name, s))
		}
		*dst = v
	}
	num("threshold", *threshold, &c.Threshold)
	integer("max-conns-per-ip", *maxConns, &c.Server.MaxConnsPerIP)
	if *maxAll != "-1" {
		integer("max-conns", *maxAll, &c.Server.MaxConns)
	} else {
		c.Server.MaxConns = -1
	}
	num("msg-rate", *msgRate, &c.Server.MessageRate)
	integer("msg-burst", *msgBurst, &c.Server.MessageBurst)
	num("ip-msg-rate", *ipRate, &c.Server.IPMessageRate)
	integer("ip-msg-burst", *ipBurst, &c.Server.IPMessageBurst)
	dur("idle-timeout", *idle, &c.Server.IdleTimeout)
	dur("token-ttl", *tokenTTL, &c.Server.TokenTTL)
	integer("workers", *workers, &c.Server.Workers)
	integer("answer-cache", *cacheSize, &c.Server.AnswerCache)
	for _, o := range strings.Split(*origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.Server.Origins = append(c.Server.Origins, o)
		}
	}
	if c.Threshold > 1 {
		errs = append(errs, fmt.Errorf("-threshold: must be between 0 and 1"))
	}
	return c, errors.Join(errs...)
}

func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level: %w", err)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// loadEngine reads the knowledge base (embedded unless dir is set) and builds the engine.
func loadEngine(dir string, threshold float64) (*kb.Engine, error) {
	entries, err := kb.Load(kb.Dir(dir))
	if err != nil {
		return nil, err
	}
	return kb.New(entries, threshold)
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseServe(args, getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		fmt.Fprintln(stderr, err)
		return exitError(2)
	}
	log, err := newLogger(cfg.LogLevel, stderr)
	if err != nil {
		return err
	}
	start := time.Now()
	if limit := raiseFDLimit(log); cfg.Server.MaxConns < 0 {
		cfg.Server.MaxConns = 0
		if limit > fdReserve {
			cfg.Server.MaxConns = int(min(limit-fdReserve, math.MaxInt32))
		}
	}
	// Listen first. While the engine is built and the store opened (a second or two),
	// visitors reconnecting after a restart wait in the kernel's accept queue, and are served
	// the moment the server is ready, rather than being refused and backing off for longer.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	engine, err := loadEngine(cfg.KB, cfg.Threshold)
	if err != nil {
		return err
	}
	defer engine.Close()
	cat, err := locales.Load()
	if err != nil {
		return err
	}
	db, err := store.Open(filepath.Join(cfg.Data, "hotline.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	if rc := db.Recovered(); rc.Records > 0 {
		log.Warn("the last run stopped without closing the database: its message journal is applied",
			"records", rc.Records, "applied", rc.Applied, "files", rc.Files)
	}
	srv := server.New(cfg.Server, server.Options{Engine: engine, Catalog: cat, Store: db, Logger: log})
	srv.Handle("/", web.Handler(web.Options{Origins: cfg.Server.Origins}))
	srv.Handle("/console/", console.Handler(srv))
	stopWeChat, err := mountWeChat(srv, cfg.WeChat, log)
	if err != nil {
		return err
	}
	defer stopWeChat()
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	srv.Start(ctx)
	if cfg.DebugAddr != "" {
		go func() {
			mux := http.NewServeMux()
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
			log.Warn("pprof server stopped", "err", http.ListenAndServe(cfg.DebugAddr, mux))
		}()
	}
	log.Info("serving", "addr", ln.Addr().String(), "entries", len(engine.Entries()),
		"startup", time.Since(start).Round(time.Millisecond).String(), "data", cfg.Data, "max_conns", cfg.Server.MaxConns)
	fmt.Fprintf(stdout, "hotline: listening on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	// Stop accepting first, then drain the WebSocket connections (Shutdown does not touch
	// hijacked ones), then the deferred closes run: engine, store.
	herr := hs.Shutdown(sctx)
	serr := srv.Shutdown(sctx)
	if err := errors.Join(herr, serr); err != nil {
		log.Warn("shutdown incomplete", "err", err)
	}
	log.Info("stopped")
	return nil
}

// raiseFDLimit lifts the soft limit on open files to the hard one, and returns the limit
// (0 if unknown): every WebSocket connection holds a descriptor.
func raiseFDLimit(log *slog.Logger) uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			log.Warn("raise open files limit", "err", err)
			syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
		}
	}
	log.Info("open files limit", "limit", l.Cur)
	return uint64(l.Cur)
}

// fdReserve is how many descriptors the default connection cap leaves for the server's own
// files: the database and its WAL for each of its connections, a journal segment while the
// next opens, the listeners, the epoll instances. It uses about 30.
const fdReserve = 64
