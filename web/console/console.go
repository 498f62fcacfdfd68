// Package console serves the agent takeover console: the login page at /console/login, the
// console itself at /console/ (agents only) and their scripts and styles under
// /console/assets/. The files are plain HTML, JavaScript and CSS written by hand and embedded
// with go:embed; there is no build step and nothing is loaded from another site. The console
// speaks the agent frames of protocol/console.go over GET /agent/ws, signs in through
// POST /console/api/login and takes all its text from GET /api/v1/strings/{lang}.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/hotline12367/hotline/server"
)

//go:embed static
var static embed.FS

// CSP is the Content-Security-Policy of the console's pages: only their own scripts, styles
// and connections (the agent WebSocket is same-origin), no inline script, no framing.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// Paths the handler serves; mount it on "/console/".
const (
	LoginPath  = "/console/login"
	AppPath    = "/console/"
	assetsPath = "/console/assets/"
)

// file is one embedded file, ready to serve.
type file struct {
	body        []byte
	ctype, etag string
}

// Handler serves the console under /console/: the login page (public), the console (wrapped
// with srv.RequireAgent, so that anyone not signed in is sent to the login page) and the
// static assets (public: they hold no secret). Mount it with
// srv.Handle("/console/", console.Handler(srv)); the console's API routes
// (/console/api/...) are the server's own and take precedence. Other paths get 404, methods
// other than GET and HEAD 405. It panics if the embedded files are broken, which the tests
// catch.
func Handler(srv *server.Server) http.Handler {
	files := map[string]*file{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ctype := mime.TypeByExtension(path.Ext(p))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		files[strings.TrimPrefix(p, "static/")] = &file{body: b, ctype: ctype,
			etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil || files["login.html"] == nil || files["app.html"] == nil {
		panic("console: embedded files missing")
	}
	app := srv.RequireAgent(LoginPath, page(files["app.html"]))
	login := page(files["login.html"])
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		switch p := r.URL.Path; {
		case p == AppPath:
			app.ServeHTTP(w, r)
		case p == LoginPath:
			login.ServeHTTP(w, r)
		case strings.HasPrefix(p, assetsPath):
			f := files["assets/"+strings.TrimPrefix(p, assetsPath)]
			if f == nil {
				http.NotFound(w, r)
				return
			}
			// Revalidated on every load (cheap with the ETag), so that a new release reaches
			// agents at their next reload.
			w.Header().Set("Cache-Control", "no-cache")
			serve(w, r, f)
		default:
			http.NotFound(w, r)
		}
	})
}

// page serves an HTML page with the console's security headers.
func page(f *file) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		if h.Get("Cache-Control") == "" {
			h.Set("Cache-Control", "no-cache")
		}
		serve(w, r, f)
	})
}

func serve(w http.ResponseWriter, r *http.Request, f *file) {
	w.Header().Set("Content-Type", f.ctype)
	w.Header().Set("ETag", f.etag)
	// ServeContent answers If-None-Match; the zero time leaves Last-Modified out.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
