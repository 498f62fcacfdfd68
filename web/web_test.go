package web_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	hkb "github.com/hotline12367/hotline/kb"
	"github.com/hotline12367/hotline/locales"
	"github.com/hotline12367/hotline/web"
)

func TestHandler(t *testing.T) {
	h := web.Handler(web.Options{PublicURL: "https://chat.example.gov.cn/", Origins: []string{"https://www.example.gov.cn"}})
	tests := []struct {
		name, method, path string
		header             map[string]string
		status             int
		want               map[string]string // response headers
	}{
		{"demo page", "GET", "/", nil, 200, map[string]string{
			"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": web.CSP, "X-Frame-Options": "DENY"}},
		{"widget", "GET", "/widget.js", nil, 200, map[string]string{
			"Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "public, max-age=300", "Content-Encoding": ""}},
		{"widget gzipped", "GET", "/widget.js", map[string]string{"Accept-Encoding": "br, gzip"}, 200, map[string]string{
			"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}},
		{"gzip refused", "GET", "/widget.js", map[string]string{"Accept-Encoding": "gzip;q=0"}, 200, map[string]string{"Content-Encoding": ""}},
		{"style sheet for an allowed site", "GET", "/widget.css", map[string]string{"Origin": "https://www.example.gov.cn"}, 200, map[string]string{
			"Content-Type": "text/css; charset=utf-8", "Access-Control-Allow-Origin": "https://www.example.gov.cn"}},
		{"style sheet for another site", "GET", "/widget.css", map[string]string{"Origin": "https://evil.example"}, 200, map[string]string{
			"Access-Control-Allow-Origin": ""}},
		{"head", "HEAD", "/widget.js", nil, 200, nil},
		{"template not served", "GET", "/index.html.tmpl", nil, 404, nil},
		{"unknown", "GET", "/nope.js", nil, 404, nil},
		{"post", "POST", "/widget.js", nil, 405, map[string]string{"Allow": "GET, HEAD"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status: got %d, want %d", w.Code, tt.status)
			}
			for k, v := range tt.want {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s: got %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestETag(t *testing.T) {
	h := web.Handler(web.Options{})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/widget.js", nil))
	etag := w.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	r := httptest.NewRequest("GET", "/widget.js", nil)
	r.Header.Set("If-None-Match", etag)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusNotModified {
		t.Errorf("revalidation: got %d, want 304", w.Code)
	}
}

// TestCSPDirectives: the demo page's policy is at least as strict as the issue asks.
func TestCSPDirectives(t *testing.T) {
	got := map[string]string{}
	for _, d := range strings.Split(web.CSP, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		got[name] = value
	}
	for name, want := range map[string]string{
		"default-src": "'self'", "script-src": "'self'", "style-src": "'self'", "connect-src": "'self' ws: wss:",
		"img-src": "'self' data:", "base-uri": "'none'", "frame-ancestors": "'none'",
	} {
		if got[name] != want {
			t.Errorf("%s: got %q, want %q", name, got[name], want)
		}
	}
}

// TestDemoPageHasNoInlineCode: no inline script, style element, style attribute or event
// handler attribute, so the strict CSP needs no exception.
func TestDemoPageHasNoInlineCode(t *testing.T) {
	w := httptest.NewRecorder()
	web.Handler(web.Options{}).ServeHTTP(w, httptest.NewRequest("GET", "http://hotline.test/", nil))
	page := w.Body.String()
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`(?i)<style`),
		regexp.MustCompile(`(?i)<script(\s+async)?>`),
		regexp.MustCompile(`(?i)\sstyle\s*=`),
		regexp.MustCompile(`(?i)\son[a-z]+\s*=`),
		regexp.MustCompile(`(?i)javascript:`),
	} {
		if m := bad.FindString(page); m != "" {
			t.Errorf("the demo page has %q", m)
		}
	}
	scripts := regexp.MustCompile(`<script[^>]*>`).FindAllString(page, -1)
	if !slices.Equal(scripts, []string{`<script src="/widget.js" async>`}) {
		t.Errorf("scripts: got %q, want only /widget.js", scripts)
	}
	if snippet := `&lt;script src=&#34;http://hotline.test/widget.js&#34; async&gt;&lt;/script&gt;`; !strings.Contains(page, snippet) {
		t.Errorf("the page does not show the embed snippet %s", snippet)
	}
}

// TestWidgetSize keeps the widget small: script and style sheet under 30 KB gzipped together.
func TestWidgetSize(t *testing.T) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	for _, f := range []string{"static/widget.js", "static/widget.css"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(b)
	}
	zw.Close()
	t.Logf("widget.js + widget.css: %d bytes gzipped", buf.Len())
	if buf.Len() > 30<<10 {
		t.Errorf("gzipped size: got %d bytes, want at most %d", buf.Len(), 30<<10)
	}
}

// TestWidgetNeedsNoHTML: the widget never parses markup nor runs strings as code.
func TestWidgetNeedsNoHTML(t *testing.T) {
	b, err := os.ReadFile("static/widget.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute('style'", ".cssText", "DOMParser", "createContextualFragment"} {
		if bytes.Contains(b, []byte(bad)) {
			t.Errorf("widget.js uses %s", bad)
		}
	}
}

// TestWidgetStrings: every message id the widget shows exists in locales/, in every
// language (locales' own test checks the languages against English).
func TestWidgetStrings(t *testing.T) {
	b, err := os.ReadFile("static/widget.js")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, m := range regexp.MustCompile(`\bt\('(\w+)'[,)]`).FindAllSubmatch(b, -1) {
		ids[string(m[1])] = true
	}
	for _, m := range regexp.MustCompile(`'(WidgetLang\w+)'`).FindAllSubmatch(b, -1) {
		ids[string(m[1])] = true
	}
	for _, id := range []string{"WidgetStarter1", "WidgetStarter2", "WidgetStarter3"} {
		ids[id] = true
	}
	if len(ids) < 30 {
		t.Fatalf("found %d message ids in widget.js: the pattern no longer matches", len(ids))
	}
	known := map[string]bool{}
	for _, id := range catalog.IDs() {
		known[id] = true
	}
	for id := range ids {
		if !known[id] {
			t.Errorf("widget.js shows %s, which is not in locales/", id)
		}
	}
}

// TestStarterQuestions: the starter questions the widget offers are answered by the bot, in
// each language, not handed off.
func TestStarterQuestions(t *testing.T) {
	for _, lang := range locales.Langs {
		for _, id := range []string{"WidgetStarter1", "WidgetStarter2", "WidgetStarter3"} {
			q := catalog.T(lang, id, nil)
			ans, err := engine.Ask(hkb.Query{Text: q, Lang: lang})
			if err != nil {
				t.Fatalf("%s %s: %v", lang, id, err)
			}
			if ans.Handoff || ans.Lang != lang {
				t.Errorf("%s %s %q: got handoff=%v lang=%s, want an answer in %s", lang, id, q, ans.Handoff, ans.Lang, lang)
			}
		}
	}
}

// TestStaticFilesServed: every embedded file but the page template is reachable.
func TestStaticFilesServed(t *testing.T) {
	h := web.Handler(web.Options{})
	entries, err := os.ReadDir("static")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmpl") {
			continue
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/"+e.Name(), nil))
		want, _ := os.ReadFile("static/" + e.Name())
		got, _ := io.ReadAll(w.Body)
		if w.Code != 200 || !bytes.Equal(got, want) {
			t.Errorf("/%s: got %d and %d bytes, want 200 and the file", e.Name(), w.Code, len(got))
		}
	}
}
