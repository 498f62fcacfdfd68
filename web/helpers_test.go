package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/hotline12367/hotline/internal/chromium"
	"github.com/hotline12367/hotline/internal/testenv"
	"html"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/hotline12367/hotline/server"
	"github.com/hotline12367/hotline/store"
	"github.com/hotline12367/hotline/web"
)

// The engine and the catalog are the test binary's, built once (testenv).
var (
	engine  = testenv.Engine()
	catalog = testenv.Catalog()
)

func TestMain(m *testing.M) {
	code := m.Run()
	stopBrowser()
	testenv.Close()
	os.Exit(code)
}

// waitTime bounds every wait in the browser: generous, because CI runs -race on two cores.
const waitTime = 20 * time.Second

// testServer is a real hotline server (the embedded knowledge base, the locales, SQLite in a
// temp dir) with the widget mounted as cmd/hotline mounts it, plus the host pages of
// hostPage under /test/. It listens on one address for its whole life, so that a restart
// looks to the browser like a server coming back.
type testServer struct {
	t       *testing.T
	addr    string
	path    string
	log     *testenv.LogBuffer
	origins []string

	srv *server.Server
	db  *store.SQLite
	hs  *httptest.Server
}

func startServer(t *testing.T) *testServer { return startServerOrigins(t, nil) }

// startServerOrigins starts a server that lets pages of origins open the chat.
func startServerOrigins(t *testing.T, origins []string) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{t: t, addr: ln.Addr().String(), path: filepath.Join(t.TempDir(), "hotline.db"), log: &testenv.LogBuffer{}, origins: origins}
	s.start(ln)
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("server log:\n%s", s.log)
		}
	})
	return s
}

// start serves on ln, or on the server's address again when ln is nil.
func (s *testServer) start(ln net.Listener) {
	s.t.Helper()
	var err error
	for i := 0; ln == nil; i++ {
		if ln, err = net.Listen("tcp", s.addr); err != nil {
			if i == 50 {
				s.t.Fatalf("listen again on %s: %v", s.addr, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if s.db, err = store.Open(s.path); err != nil {
		s.t.Fatalf("store.Open: %v", err)
	}
	cfg := server.DefaultConfig() // the real rate limits: the widget must live with them
	cfg.Workers = 4
	cfg.Origins = s.origins
	s.srv = server.New(cfg, server.Options{Engine: engine, Catalog: catalog, Store: s.db,
		Logger: slog.New(slog.NewTextHandler(s.log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	s.srv.Handle("/", web.Handler(web.Options{Origins: s.origins}))
	s.srv.Handle("/test/", http.HandlerFunc(hostPage))
	s.srv.Start(context.Background())
	s.hs = httptest.NewUnstartedServer(s.srv)
	s.hs.Listener.Close()
	s.hs.Listener = ln
	s.hs.Start()
}

// stop shuts the server down as cmd/hotline does; it does nothing when stopped.
func (s *testServer) stop() {
	s.t.Helper()
	if s.hs == nil {
		return
	}
	s.hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.t.Errorf("Shutdown: %v", err)
	}
	if err := s.db.Close(); err != nil {
		s.t.Errorf("db.Close: %v", err)
	}
	s.hs, s.srv, s.db = nil, nil, nil
}

func (s *testServer) url(path string) string { return "http://" + s.addr + path }

// hostPage serves /test/host: a page that embeds the widget as a site would, under the demo
// page's strict CSP. Query: lang (the <html lang>), csp=off, hostile=1 (styles that would
// break a widget living in the page's own DOM), and data-* attributes for the script tag.
func hostPage(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/test/hostile.css" {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		fmt.Fprint(w, `* { font-family: serif !important; color: #f0f !important; line-height: 3 !important; }
button { background: #0f0 !important; border-radius: 0 !important; }
[hidden] { display: block !important; }
hotline-chat { opacity: 0.1; }`)
		return
	}
	q := r.URL.Query()
	lang := q.Get("lang")
	if lang == "" {
		lang = "en"
	}
	var attrs strings.Builder
	for k, v := range q {
		if strings.HasPrefix(k, "data-") {
			fmt.Fprintf(&attrs, ` %s="%s"`, html.EscapeString(k), html.EscapeString(v[0]))
		}
	}
	css := ""
	if q.Get("hostile") == "1" {
		css = `<link rel="stylesheet" href="/test/hostile.css">`
	}
	if q.Get("csp") != "off" {
		w.Header().Set("Content-Security-Policy", web.CSP)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html>
<html lang="%s"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>A site</title><link rel="icon" href="data:,">%s</head>
<body><h1>A government website</h1><p>Some text of the host page.</p>
<script src="/widget.js" async%s></script></body></html>`, html.EscapeString(lang), css, attrs.String())
}

// ---- the browser ------------------------------------------------------------------------------

// One Chromium for the package; each test gets its own browser context (its own storage).
var browser struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	dir    string
	skip   string
	err    error
}

func startBrowser() {
	path := chromium.Path()
	if path == "" {
		why, required := chromium.Missing()
		if required {
			browser.err = errors.New(why)
		} else {
			browser.skip = why
		}
		return
	}
	dir, err := os.MkdirTemp("", "hotline-chromium-")
	if err != nil {
		browser.err = err
		return
	}
	browser.dir = dir
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromium.Options(path, dir, 1280, 800)...)
	ctx, cancel := chromedp.NewContext(alloc)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		browser.err = fmt.Errorf("start %s: %w", path, err)
		return
	}
	browser.ctx = ctx
	browser.cancel = func() { cancel(); cancelAlloc() }
}

func stopBrowser() {
	if browser.cancel != nil {
		browser.cancel()
	}
	if browser.dir != "" {
		os.RemoveAll(browser.dir)
	}
}

// prelude runs in every page before the page's own scripts. It records CSP violations and
// errors, and wraps WebSocket so that a test can see the frames the widget sends and
// receives, drop some, and hand the widget frames the server did not send (inject).
const prelude = `(() => {
  const hl = window.__hl = { sent: [], recv: [], sockets: [], csp: [], errors: [], drop: null, block: null, onsend: null };
  document.addEventListener('securitypolicyviolation', (e) =>
    hl.csp.push(e.violatedDirective + ' blocked ' + e.blockedURI + ' at ' + e.sourceFile + ':' + e.lineNumber), true);
  window.addEventListener('error', (e) => hl.errors.push(String(e.message)));
  window.addEventListener('unhandledrejection', (e) => hl.errors.push('unhandled rejection: ' + String(e.reason)));
  const WS = window.WebSocket;
  class Spy extends WS {
    constructor(...a) { super(...a); hl.sockets.push(this); }
    send(d) {
      if (hl.block && hl.block(JSON.parse(d), this)) return; // lost on the way
      hl.sent.push(String(d));
      const r = super.send(d);
      if (hl.onsend) hl.onsend(this, String(d));
      return r;
    }
    set onmessage(fn) {
      super.onmessage = (e) => {
        hl.recv.push(e.data);
        if (hl.drop && hl.drop(JSON.parse(e.data))) return;
        fn.call(this, e);
      };
    }
    get onmessage() { return super.onmessage; }
  }
  window.WebSocket = Spy;
  hl.sock = () => hl.sockets[hl.sockets.length - 1];
  hl.inject = (f) => hl.sock().dispatchEvent(new MessageEvent('message', { data: JSON.stringify(f) }));
  hl.root = () => { const h = document.querySelector('hotline-chat'); return h && h.shadowRoot; };
  hl.$ = (s) => { const r = hl.root(); return r && r.querySelector(s); };
  hl.$$ = (s) => { const r = hl.root(); return r ? [...r.querySelectorAll(s)] : []; };
  hl.shown = (s) => { const e = hl.$(s); return !!e && e.getClientRects().length > 0; };
  hl.text = (s) => { const e = hl.$(s); return e ? e.textContent : null; };
  hl.state = () => { for (let i = 0; i < localStorage.length; i++) { const k = localStorage.key(i); if (k.startsWith('hotline:http')) return JSON.parse(localStorage.getItem(k)); } return null; };
  hl.frames = (type) => hl.recv.map((d) => JSON.parse(d)).filter((f) => f.type === type);
})();`

// page is one browser tab with the prelude, its console and its screenshots.
type page struct {
	t   *testing.T
	ctx context.Context

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

// view is how a page is opened: the viewport (a phone when Mobile), and a script to run before
// the page's own ones (after the prelude).
type view struct {
	W, H   int64
	Mobile bool
	Script string
}

var desktop = view{W: 1280, H: 800}

// openPage opens url in a fresh browser context (its own storage) as v says.
func openPage(t *testing.T, url string, v view) *page {
	t.Helper()
	browser.once.Do(startBrowser)
	if browser.skip != "" {
		t.Skip(browser.skip)
	}
	if browser.err != nil {
		t.Fatalf("browser: %v", browser.err)
	}
	ctx, cancel := chromedp.NewContext(browser.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	p := &page{t: t, ctx: ctx}
	if err := chromedp.Do(ctx); err != nil { // opens the tab
		t.Fatalf("new tab: %v", err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.console = append(p.console, m)
			p.mu.Unlock()
		}
	}()
	if _, err := chromedp.Call(ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: prelude + v.Script}); err != nil {
		t.Fatalf("prelude: %v", err)
	}
	vp := []chromedp.EmulateViewportOption{}
	if v.Mobile {
		vp = append(vp, chromedp.EmulateScale(3), chromedp.EmulateMobile)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(v.W, v.H, vp...)); err != nil {
		t.Fatalf("viewport: %v", err)
	}
	p.navigate(url)
	return p
}

func (p *page) navigate(url string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitTime)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		p.t.Fatalf("navigate %s: %v", url, err)
	}
}

func (p *page) reload() {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitTime)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		p.t.Fatalf("reload: %v", err)
	}
}

// js evaluates expr in the page and decodes its value into T.
func js[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitTime)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func (p *page) do(expr string) {
	p.t.Helper()
	js[chromedp.Void](p, expr)
}

// wait polls the JavaScript condition until it is true.
func (p *page) wait(what, cond string) {
	p.t.Helper()
	if !p.waitFor(waitTime, cond) {
		p.t.Fatalf("waiting for %s (%s): timed out\n%s", what, cond, p.dump())
	}
}

// waitFor polls the condition for at most d and reports whether it became true.
func (p *page) waitFor(d time.Duration, cond string) bool {
	p.t.Helper()
	expr := "(() => { try { return !!(" + cond + "); } catch (e) { return false; } })()"
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, waitTime)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dump describes the widget's state for a failure message.
func (p *page) dump() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({
	  log: __hl.$$('.log > *').map((e) => e.className + (e.dataset.seq ? '#' + e.dataset.seq : '') + ': ' + e.textContent.slice(0, 160)),
	  banner: __hl.text('.banner'), sent: __hl.sent.slice(-8), recv: __hl.recv.slice(-8).map((d) => d.slice(0, 300)),
	  errors: __hl.errors, csp: __hl.csp }, null, 1)`))
	if err != nil {
		return "(no widget state: " + err.Error() + ")"
	}
	return s
}

// quote makes s a JavaScript string literal.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// click clicks the widget element sel with the mouse, at its centre.
func (p *page) click(sel string) {
	p.t.Helper()
	p.clickJS("__hl.$(" + quote(sel) + ")")
}

// clickJS clicks the element that the JavaScript expression el returns.
func (p *page) clickJS(el string) {
	p.t.Helper()
	p.wait(el+" shown", "(("+el+").getClientRects().length > 0)")
	xy := js[[]float64](p, `(() => { const e = `+el+`; e.scrollIntoView({block: 'nearest'});
	  const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()`)
	ctx, cancel := context.WithTimeout(p.ctx, waitTime)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.MouseClickXY(xy[0], xy[1])); err != nil {
		p.t.Fatalf("click %s: %v", el, err)
	}
}

// keys types keys (chromedp/kb names for special keys) into whatever has the focus.
func (p *page) keys(keys string, opts ...chromedp.KeyOption) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitTime)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.KeyEvent(keys, opts...)); err != nil {
		p.t.Fatalf("keys %q: %v", keys, err)
	}
}

// insert types text into the focused field as an input method would (any script).
func (p *page) insert(text string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitTime)
	defer cancel()
	if _, err := chromedp.Call(ctx, input.InsertText, input.InsertTextParams{Text: text}); err != nil {
		p.t.Fatalf("insert text: %v", err)
	}
}

// focused is a description of the element that has the focus inside the widget.
func (p *page) focused() string {
	return js[string](p, `(() => { const a = __hl.root() && __hl.root().activeElement; if (!a) return '';
	  return a.tagName.toLowerCase() + (a.id ? '#' + a.id : '') + (a.className ? '.' + a.className.split(' ').join('.') : ''); })()`)
}

// openWidget waits for the launcher, clicks it and waits for the panel.
func (p *page) openWidget() {
	p.t.Helper()
	p.click(".launcher")
	p.wait("the panel", "__hl.shown('.panel')")
}

// botCount is how many bot answers (bot messages after the greeting) the log shows.
func (p *page) botCount() int {
	return js[int](p, `__hl.$$('.log .msg.bot').length`)
}

// ask types question into the input, sends it with Enter and returns the text of the bot's
// next message.
func (p *page) ask(question string) string {
	p.t.Helper()
	n := p.botCount()
	p.do(`__hl.$('#hl-input').focus()`)
	p.insert(question)
	p.keys(kb.Enter)
	p.wait("an answer to "+question, fmt.Sprintf(`__hl.$$('.log .msg.bot').length > %d`, n))
	return js[string](p, `__hl.$$('.log .msg.bot').at(-1).querySelector('.text').textContent`)
}

// transcript is the conversation as the log shows it: one line per stored message, in order.
func (p *page) transcript() []string {
	return js[[]string](p, `__hl.$$('.log [data-seq]').map((e) => e.dataset.seq + ' ' + e.className + ': ' + e.querySelector('p').textContent)`)
}

// consoleErrors returns what the page wrote to the console as warnings, errors or
// exceptions.
func (p *page) consoleErrors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, m := range p.console {
		switch m.Type {
		case chromedp.ConsoleError, chromedp.ConsoleWarning, chromedp.ConsoleException:
			out = append(out, m.String()+" ("+m.URL+")")
		}
	}
	return out
}

// screenshot saves the viewport as testout/name.png at the repository's root.
func (p *page) screenshot(name string) {
	p.t.Helper()
	p.wait("the widget's animations to end", `__hl.root().getAnimations().every((a) => a.playState !== 'running' || a.effect.getTiming().iterations === Infinity)`)
	ctx, cancel := context.WithTimeout(p.ctx, waitTime)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	dir := filepath.Join("..", "testout")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	file := filepath.Join(dir, name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: testout/%s.png", name)
}

// answerText is what the knowledge base says for entry id in lang.
func answerText(t *testing.T, id, lang string) string {
	t.Helper()
	e := engine.Entry(id)
	if e == nil || e.Text[lang] == nil {
		t.Fatalf("no entry %s in %s", id, lang)
	}
	return e.Text[lang].A
}
