package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/hotline12367/hotline/store"
)

// Console sessions: an HttpOnly, SameSite=Strict cookie (Secure under TLS) holds a random
// token whose hash is stored; every state-changing request also carries the session's CSRF
// token in X-CSRF-Token and, from a browser, an Origin of this host. Repeated failed logins
// from one address or for one name are refused for a while.
const (
	sessionCookie = "hotline_session"
	sessionTTL    = 12 * time.Hour
	csrfHeader    = "X-CSRF-Token"
)

// agentInfo is the agent behind a console session.
type agentInfo struct {
	ID    string
	Name  string
	Role  string
	Langs []string
	CSRF  string
}

// loginLimiter slows down password guessing: after maxFailures failures within failWindow
// from one address or for one name, logins are refused until the window has passed.
type loginLimiter struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string][]time.Time
}

const (
	maxFailures = 5
	failWindow  = 15 * time.Minute
)

func (l *loginLimiter) blocked(keys ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range keys {
		var recent []time.Time
		for _, t := range l.m[k] {
			if now.Sub(t) < failWindow {
				recent = append(recent, t)
			}
		}
		l.m[k] = recent
		if len(recent) >= maxFailures {
			return true
		}
	}
	return false
}

func (l *loginLimiter) fail(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		l.m[k] = append(l.m[k], l.now())
	}
}

func (l *loginLimiter) reset(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		delete(l.m, k)
	}
}

// dummyHash is compared against when the name is unknown, so that a login takes as long for
// a name that does not exist as for a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not a real password"), bcrypt.DefaultCost)

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	lang := s.acceptLanguage(r).Lang
	if !sameOrigin(r) {
		writeJSON(w, http.StatusForbidden, map[string]ErrorBody{"error": s.errorBody(lang, CodeForbidden)})
		return
	}
	var req struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]ErrorBody{"error": s.errorBody(lang, CodeBadJSON)})
		return
	}
	ip := clientIP(r)
	// Failures count per address, and per name from that address: guessing from one place
	// is slowed, and no one can lock an agent out from elsewhere.
	keys := []string{"ip:" + ip, "name:" + ip + ":" + strings.ToLower(req.Name)}
	if s.logins.blocked(keys...) {
		w.Header().Set("Retry-After", "900")
		writeJSON(w, http.StatusTooManyRequests, map[string]ErrorBody{"error": s.errorBody(lang, CodeRateLimited)})
		return
	}
	a, err := s.store.AgentByName(r.Context(), req.Name)
	hash := []byte(a.PasswordHash)
	if err != nil {
		hash = dummyHash
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(req.Password)) != nil || err != nil {
		s.logins.fail(keys...)
		s.log.Warn("console login failed", "ip", ip) // never the name or the password
		writeJSON(w, http.StatusUnauthorized, map[string]ErrorBody{"error": s.errorBody(lang, CodeUnauthorized)})
		return
	}
	s.logins.reset(keys...)
	token, csrf := rand.Text()+rand.Text(), rand.Text()
	if err := s.store.CreateSession(r.Context(), store.AgentSession{
		TokenHash: hashToken(token), AgentID: a.ID, CSRF: csrf, ExpiresAt: s.now().Add(sessionTTL),
	}); err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]ErrorBody{"error": s.errorBody(lang, CodeInternal)})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", HttpOnly: true,
		Secure: isTLS(r), SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL.Seconds())})
	s.log.Info("console login", "agent", a.ID)
	writeJSON(w, http.StatusOK, map[string]any{"agent": map[string]any{"id": a.ID, "name": a.Name, "role": a.Role, "langs": a.Langs}, "csrf": csrf})
}

func isTLS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// sameOrigin reports whether a browser request comes from a page of this host (requests
// without Origin, from non-browsers, pass: they cannot carry a victim's cookie by accident).
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// session returns the agent behind the request's cookie.
func (s *Server) session(ctx context.Context, r *http.Request) (*agentInfo, []byte, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil, errUnauthorized
	}
	h := hashToken(c.Value)
	sess, err := s.store.Session(ctx, h)
	if err != nil || !s.now().Before(sess.ExpiresAt) {
		return nil, nil, errUnauthorized
	}
	a, err := s.store.Agent(ctx, sess.AgentID)
	if err != nil {
		return nil, nil, errUnauthorized
	}
	return &agentInfo{ID: a.ID, Name: a.Name, Role: a.Role, Langs: a.Langs, CSRF: sess.CSRF}, h, nil
}

var errUnauthorized = errors.New("server: not logged in")

// requireAgent wraps console API handlers: no session, 401; a state-changing request without
// the CSRF token or from another origin, 403.
func (s *Server) requireAgent(next func(w http.ResponseWriter, r *http.Request, a *agentInfo)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		lang := s.acceptLanguage(r).Lang
		a, _, err := s.session(r.Context(), r)
		if err != nil {
			writeJSON(w, http.StatusUnauthorized, map[string]ErrorBody{"error": s.errorBody(lang, CodeUnauthorized)})
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			tok := r.Header.Get(csrfHeader)
			if !sameOrigin(r) || subtle.ConstantTimeCompare([]byte(tok), []byte(a.CSRF)) != 1 {
				writeJSON(w, http.StatusForbidden, map[string]ErrorBody{"error": s.errorBody(lang, CodeForbidden)})
				return
			}
		}
		next(w, r, a)
	}
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request, a *agentInfo) {
	if _, h, err := s.session(r.Context(), r); err == nil {
		_ = s.store.DeleteSession(r.Context(), h)
		s.hub.desk.endSession(string(h))
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: isTLS(r),
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	writeJSON(w, http.StatusOK, map[string]string{"status": "logged out"})
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request, a *agentInfo) {
	writeJSON(w, http.StatusOK, map[string]any{"agent": map[string]any{"id": a.ID, "name": a.Name, "role": a.Role, "langs": a.Langs}, "csrf": a.CSRF})
}

func (s *Server) handleLeftMessages(w http.ResponseWriter, r *http.Request, a *agentInfo) {
	writeJSON(w, http.StatusOK, map[string]any{"left_messages": s.hub.desk.leftMessages()})
}
