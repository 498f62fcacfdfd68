package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hotline12367/hotline/internal/testenv"
	"github.com/hotline12367/hotline/protocol"
	"github.com/hotline12367/hotline/server"
	"github.com/hotline12367/hotline/store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Close()
	os.Exit(code)
}

// The load tool against a real server: every connection opens, the questions are answered,
// and the result is one JSON line with the documented fields.
func TestRun(t *testing.T) {
	engine, cat := testenv.Engine(), testenv.Catalog()
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
	for _, k := range []string{"conns", "questions", "qps", "p50_ms", "p99_ms", "errors", "server_rss_mib", "server_p99_ms", "cpu_steal_pct"} {
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
	if p := r["server_p99_ms"].(float64); p <= 0 {
		t.Errorf("server_p99_ms: got %v, want the server's own reply p99 from /metrics", p)
	}
}

// The server's p99 comes from the difference of two scrapes of its reply histogram,
// interpolated within the bucket as Prometheus's histogram_quantile does.
func TestServerQuantile(t *testing.T) {
	scrape := func(counts ...int) string {
		les := []string{"0.001", "0.005", "0.025", "+Inf"}
		var b strings.Builder
		b.WriteString("# TYPE hotline_reply_seconds histogram\n")
		for i, le := range les {
			fmt.Fprintf(&b, "hotline_reply_seconds_bucket{le=%q} %d\n", le, counts[i])
		}
		b.WriteString("process_resident_memory_bytes 1.048576e+08\n")
		return b.String()
	}
	before := parseMetrics(scrape(10, 10, 10, 10))
	if before.rss != 100 || len(before.reply) != 4 {
		t.Fatalf("parse: got rss %v and %d buckets, want 100 MiB and 4", before.rss, len(before.reply))
	}
	for _, c := range []struct {
		counts []int
		q      float64
		want   float64
	}{
		{[]int{110, 110, 110, 110}, 0.99, 0.00099},       // all 100 new ones under 1 ms
		{[]int{60, 110, 110, 110}, 0.5, 0.001},           // half under 1 ms: the bucket's top
		{[]int{10, 10, 60, 110}, 0.25, 0.005 + 0.02*0.5}, // halfway into (5, 25] ms
		{[]int{10, 10, 10, 110}, 0.99, 0.025},            // past the last bound: that bound
		{[]int{10, 10, 10, 10}, 0.99, 0},                 // nothing asked
		{[]int{4, 4, 4, 5}, 0.5, 0.001 * 2.5 / 4},        // a restarted server: its own counts
	} {
		d := parseMetrics(scrape(c.counts...)).reply.sub(before.reply)
		if got := d.quantile(c.q); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("counts %v: q%v got %v, want %v", c.counts, c.q, got, c.want)
		}
	}
}

// Steal is the share of all CPU time between two readings.
func TestStealPct(t *testing.T) {
	a, b := cpuTimes{total: 1000, steal: 10}, cpuTimes{total: 1200, steal: 40}
	if got := b.stealPct(a); got != 15 {
		t.Errorf("got %v%%, want 15%%", got)
	}
	if got := a.stealPct(a); got != 0 {
		t.Errorf("no time passed: got %v%%, want 0", got)
	}
}

// BenchmarkDecode compares decoding an answer frame whole with decoding what the tool reads
// of it (go test ./bench -run x -bench Decode).
func BenchmarkDecode(b *testing.B) {
	msg := []byte(`{"type":"message","conversation_id":"z7prx2hdj3p4bihdh2qz","message":{"seq":3,"kind":"message","from":"bot","text":"Foreigners from 54 countries can transit through China without a visa for up to 144 hours when they continue to a third country or region. As of 19 August 2024, the policy applies at 37 ports in 20 provinces.","lang":"en","time":"2026-11-26T23:11:14.413572282Z","answer":{"faq_id":"transit-144h","kind":"faq","confidence":0.87,"handoff":false,"as_of":"2024-08-19","source":{"speaker":"Liu Jia","outlet":"SCIO briefing","document":"scio-nia-briefing-2024-08-19"},"related":[{"id":"transit-ports","question":"Which ports offer visa-free transit?"},{"id":"transit-countries","question":"Which countries qualify?"}]}}}`)
	b.Run("whole", func(b *testing.B) {
		for b.Loop() {
			var f protocol.ServerFrame
			if err := json.Unmarshal(msg, &f); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tool", func(b *testing.B) {
		for b.Loop() {
			var f frame
			if err := json.Unmarshal(msg, &f); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A server restarted on the same data in the middle of a run: every connection comes back,
// and every question is answered, those in flight at the restart included (their answers in
// the resume's replay, or to the question sent again, as the widget does).
func TestRunAcrossRestart(t *testing.T) {
	engine, cat := testenv.Engine(), testenv.Catalog()
	path := filepath.Join(t.TempDir(), "h.db")
	type node struct {
		srv *server.Server
		hs  *http.Server
		db  *store.SQLite
	}
	start := func(addr string) node {
		t.Helper()
		db, err := store.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		cfg := testenv.Config()
		cfg.MaxConnsPerIP = 0
		srv := server.New(cfg, server.Options{Engine: engine, Catalog: cat, Store: db})
		srv.Start(context.Background())
		var ln net.Listener
		for try := 0; ; try++ { // the old listener's port may take a moment to be free
			if ln, err = net.Listen("tcp", addr); err == nil || try == 50 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		hs := &http.Server{Handler: srv}
		go hs.Serve(ln)
		return node{srv, hs, db}
	}
	stop := func(n node) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		n.hs.Shutdown(ctx)
		n.srv.Shutdown(ctx)
		n.db.Close()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	first := start(addr)

	var out bytes.Buffer
	log := &testenv.LogBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- Run(context.Background(), Config{URL: "ws://" + addr + "/ws", Conns: 20, Rate: 40,
			Duration: 4 * time.Second, Sources: 4, DialRate: 1000, Log: log}, &out)
	}()
	for !strings.Contains(log.String(), "connections open after") {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(time.Second)
	stop(first)
	second := start(addr)
	defer stop(second)
	if err := <-done; err != nil {
		t.Fatalf("Run: %v\n%s", err, log.String())
	}
	var r Result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	if r.Reconnects != 20 || r.StillDown != 0 || r.Unanswered != 0 || r.Errors != 0 || r.Questions < 150 {
		t.Errorf("got %s; want all 20 connections back, none down, about 160 questions (40/s for 4 s, those asked while the server was away included) all answered, no errors", out.String())
	}
}

// The tool's quick reading of acks and messages agrees with decoding them in full, for the
// frames the server writes and for frames in other shapes.
func TestFrameDecode(t *testing.T) {
	frames := []string{
		`{"type":"ack","id":"b1-1","seq":2}`,
		`{"type":"ack"}`,
		`{"type":"message","conversation_id":"z7prx2hdj3p4bihdh2qz","message":{"seq":3,"kind":"message","from":"bot","text":"hi","time":"2026-11-26T23:11:14Z"}}`,
		`{"type":"message","conversation_id":"c1","message":{"seq":12,"kind":"message","from":"visitor","client_id":"q\"1","text":"\u003c"}}`,
		`{"type":"message","conversation_id":"c1","message":{"seq":4,"kind":"message","from":"agent","text":"x"}}`,
		`{"type":"message","message":{"seq":5,"from":"bot"},"conversation_id":"c1"}`,
		`{"type":"message","conversation_id":"c1","message":{"from":"bot","seq":6}}`,
		`{"type":"event","conversation_id":"c1","message":{"seq":7,"kind":"event","from":"system","event":"queued"}}`,
		`{"type":"welcome","conversation_id":"c1","messages":[{"seq":1,"from":"bot"},{"seq":2,"from":"visitor"}]}`,
		`{"type":"error","error":{"code":"rate_limited","message":"slow down"}}`,
		`{"type":"ackx"}`,
	}
	for _, s := range frames {
		var quick, full frame
		qerr := quick.decode([]byte(s))
		ferr := json.Unmarshal([]byte(s), &full)
		if (qerr == nil) != (ferr == nil) || !reflect.DeepEqual(quick, full) {
			t.Errorf("%s:\nquick %+v (%v)\nfull  %+v (%v)", s, quick, qerr, full, ferr)
		}
	}
}

func FuzzFrameDecode(f *testing.F) {
	f.Add([]byte(`{"type":"message","conversation_id":"c1","message":{"seq":3,"kind":"message","from":"bot"}}`))
	f.Add([]byte(`{"type":"ack","id":"b1-1","seq":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var quick, full frame
		if quick.decode(b) != nil {
			return
		}
		if json.Unmarshal(b, &full) != nil {
			// The quick path reads only a frame's first bytes; one the server wrote is whole.
			return
		}
		if !reflect.DeepEqual(quick, full) {
			t.Fatalf("%q: quick %+v, full %+v", b, quick, full)
		}
	})
}
