package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotline12367/hotline/internal/testenv"
	"github.com/hotline12367/hotline/server"
	"github.com/hotline12367/hotline/store"
)

// The load tool against a real server: every connection opens, the questions are answered,
// and the result is one JSON line with the documented fields.
func TestRun(t *testing.T) {
	engine, cat := testenv.Engine(), testenv.Catalog()
	defer testenv.Close()
	db, err := store.Open(filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cfg := testenv.Config()
	cfg.MaxConnsPerIP = 0
	srv := server.New(cfg, server.Options{Engine: engine, Catalog: cat, Store: db})
	srv.Start(context.Background())
	ts := httptest.NewServer(srv)
	defer func() {
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	var out, log bytes.Buffer
	err = Run(context.Background(), Config{URL: "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws", Conns: 20, Rate: 40,
		Duration: time.Second, Sources: 4, DialRate: 1000, Log: &log}, &out)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, log.String())
	}
	var r map[string]any
	if err := json.Unmarshal(out.Bytes(), &r); err != nil || strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("output: got %q, want one JSON line", out.String())
	}
	for _, k := range []string{"conns", "questions", "qps", "p50_ms", "p99_ms", "errors", "server_rss_mib"} {
		if _, ok := r[k]; !ok {
			t.Errorf("result lacks %q: %s", k, out.String())
		}
	}
	if r["conns"].(float64) != 20 || r["errors"].(float64) != 0 || r["questions"].(float64) < 30 || r["unanswered"].(float64) != 0 {
		t.Errorf("got %s, want 20 connections, about 40 questions all answered, no errors", out.String())
	}
	if r["server_rss_mib"].(float64) <= 0 {
		t.Errorf("server_rss_mib: got %v, want the server's resident memory from /metrics", r["server_rss_mib"])
	}
}
