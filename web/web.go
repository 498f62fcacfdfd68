// Package web serves hotline's website chat widget: /widget.js, which any page embeds with one
// script tag, the widget's style sheet, and a demo page at / with the widget on it. The files
// are plain JavaScript, CSS and HTML written by hand, embedded in the binary with go:embed; the
// widget speaks the WebSocket contract of docs/protocol.md and takes all its text from
// GET /api/v1/strings/{lang}.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// CSP is the Content-Security-Policy of the demo page: only the page's own scripts, styles
// and connections (the WebSocket included), and no framing. The widget is built to run under
// it, so a host page can use a policy as strict.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; " +
	"img-src 'self' data:; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Options configure Handler.
type Options struct {
	// PublicURL is the server's address as visitors reach it ("https://chat.example.gov.cn"),
	// shown in the demo page's embed snippet. Empty: the scheme and host of each request.
	PublicURL string
	// Origins lists the origins (scheme://host[:port]) of other sites whose pages embed the
	// widget; "*" allows any. They may read the widget's files from script (CORS), which the
	// widget does for its style sheet. Pass the server's allowlist (server.Config.Origins) so
	// that a page allowed to open the chat can also style it.
	Origins []string
}

// asset is one embedded file, ready to serve.
type asset struct {
	body, gz    []byte // gz is nil when compressing does not pay
	ctype, etag string
}

// Handler serves the widget (/widget.js, /widget.css) and the demo page (/). Mount it on the
// server's "/" route: every path it does not know gets 404, every method but GET and HEAD 405.
// It panics if the embedded files are broken, which a test catches.
func Handler(o Options) http.Handler {
	assets := map[string]*asset{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".tmpl") {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		a := &asset{body: b, ctype: mime.TypeByExtension(path.Ext(p)),
			etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
		if a.ctype == "" {
			a.ctype = "application/octet-stream"
		}
		a.gz = compress(b)
		assets["/"+strings.TrimPrefix(p, "static/")] = a
		return nil
	})
	if err != nil {
		panic("web: " + err.Error())
	}
	page := template.Must(template.ParseFS(static, "static/index.html.tmpl"))
	return &handler{o: o, assets: assets, page: page}
}

type handler struct {
	o      Options
	assets map[string]*asset
	page   *template.Template
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == "/" {
		h.serveDemo(w, r)
		return
	}
	a := h.assets[r.URL.Path]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	// Short: the one script tag on every host page names /widget.js without a version, so a
	// new release must reach visitors within minutes. The ETag makes revalidation cheap.
	hd.Set("Cache-Control", "public, max-age=300")
	hd.Set("ETag", a.etag)
	hd.Set("Cross-Origin-Resource-Policy", "cross-origin")
	hd.Add("Vary", "Accept-Encoding")
	if len(h.o.Origins) > 0 {
		hd.Add("Vary", "Origin")
		if origin := r.Header.Get("Origin"); origin != "" && h.corsAllowed(origin) {
			hd.Set("Access-Control-Allow-Origin", origin)
		}
	}
	body := a.body
	if a.gz != nil && acceptsGzip(r) {
		hd.Set("Content-Encoding", "gzip")
		hd.Set("ETag", strings.TrimSuffix(a.etag, `"`)+`-gz"`) // another representation, another tag
		body = a.gz
	}
	// ServeContent answers If-None-Match and ranges; the zero time leaves Last-Modified out.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// corsAllowed reports whether a page of origin may read the widget's files from script.
func (h *handler) corsAllowed(origin string) bool {
	return slices.Contains(h.o.Origins, "*") || slices.Contains(h.o.Origins, origin)
}

func (h *handler) serveDemo(w http.ResponseWriter, r *http.Request) {
	base := strings.TrimSuffix(h.o.PublicURL, "/")
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	var buf bytes.Buffer
	if err := h.page.Execute(&buf, map[string]string{"Snippet": `<script src="` + base + `/widget.js" async></script>`, "CSP": CSP}); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

// compress returns b gzipped, or nil when that saves less than a tenth.
func compress(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	if buf.Len() > len(b)*9/10 {
		return nil
	}
	return buf.Bytes()
}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
