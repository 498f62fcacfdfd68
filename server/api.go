package server

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/hotline12367/hotline/kb"
	"github.com/hotline12367/hotline/locales"
)

// MaxQuestionRunes is the longest question the server accepts, in characters.
const MaxQuestionRunes = 2000

// Error codes, stable across versions: clients switch on them (docs/protocol.md lists them).
const (
	CodeBadJSON            = "bad_json"
	CodeUnknownType        = "unknown_type"
	CodeEmpty              = "empty"
	CodeTooLong            = "too_long"
	CodeRateLimited        = "rate_limited"
	CodeTooManyConnections = "too_many_connections"
	CodeServerBusy         = "server_busy"
	CodeUnsupportedLang    = "unsupported_language"
	CodeOriginNotAllowed   = "origin_not_allowed"
	CodeResumeInvalid      = "resume_invalid"
	CodeConversationClosed = "conversation_closed"
	CodeNotFound           = "not_found"
	CodeSlowClient         = "slow_client"
	CodeHelloRequired      = "hello_required"
	CodeInternal           = "internal"
	CodeUnauthorized       = "unauthorized"
	CodeForbidden          = "forbidden"
)

// messageIDs maps each error code to its message in locales/.
var messageIDs = map[string]string{
	CodeBadJSON:            "ErrBadJSON",
	CodeUnknownType:        "ErrUnknownType",
	CodeEmpty:              "ErrEmpty",
	CodeTooLong:            "ErrTooLong",
	CodeRateLimited:        "ErrRateLimited",
	CodeTooManyConnections: "ErrTooManyConnections",
	CodeServerBusy:         "ErrServerBusy",
	CodeUnsupportedLang:    "ErrUnsupportedLang",
	CodeOriginNotAllowed:   "ErrOriginNotAllowed",
	CodeResumeInvalid:      "ErrResumeInvalid",
	CodeConversationClosed: "ErrConversationClosed",
	CodeNotFound:           "ErrNotFound",
	CodeSlowClient:         "ErrSlowClient",
	CodeHelloRequired:      "ErrBadJSON",
	CodeInternal:           "ErrInternal",
	CodeUnauthorized:       "ErrUnauthorized",
	CodeForbidden:          "ErrForbidden",
}

// ErrorBody is the payload of every error the server sends: over HTTP as
// {"error": ErrorBody}, over the WebSocket as an "error" frame.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (s *Server) errorBody(lang, code string) ErrorBody {
	id := messageIDs[code]
	var msg string
	if code == CodeTooLong {
		msg = s.cat.N(lang, id, MaxQuestionRunes, nil)
	} else {
		msg = s.cat.T(lang, id, nil)
	}
	return ErrorBody{Code: code, Message: msg}
}

type askRequest struct {
	Text string `json:"text"`
	Lang string `json:"lang"`
}

// handleAsk answers one question: POST /api/v1/ask {"text": "...", "lang": "fr"}.
func (s *Server) handleAsk(w http.ResponseWriter, r *http.Request) {
	hint := s.acceptLanguage(r)
	fail := func(status int, code string) {
		s.metrics.errors.WithLabelValues(code).Inc()
		writeJSON(w, status, map[string]ErrorBody{"error": s.errorBody(hint.Lang, code)})
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		fail(http.StatusMethodNotAllowed, CodeBadJSON)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4*MaxQuestionRunes+1024))
	if err != nil {
		fail(http.StatusRequestEntityTooLarge, CodeTooLong)
		return
	}
	var req askRequest
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() {
		fail(http.StatusBadRequest, CodeBadJSON)
		return
	}
	lang := req.Lang
	if lang == "auto" {
		lang = ""
	}
	if lang != "" {
		p, ok := kb.ParseLang(lang)
		if !ok {
			fail(http.StatusBadRequest, CodeUnsupportedLang)
			return
		}
		hint = p
	}
	text := strings.TrimSpace(req.Text)
	switch {
	case !utf8.ValidString(text):
		fail(http.StatusBadRequest, CodeBadJSON)
		return
	case text == "":
		fail(http.StatusBadRequest, CodeEmpty)
		return
	case utf8.RuneCountInString(text) > MaxQuestionRunes:
		fail(http.StatusBadRequest, CodeTooLong)
		return
	}
	ans, err := s.answer(kb.Query{Text: text, Lang: lang, Hint: hint})
	if err != nil {
		if errors.Is(err, kb.ErrUnsupportedLang) {
			fail(http.StatusBadRequest, CodeUnsupportedLang)
			return
		}
		s.log.Error("ask", "err", err)
		fail(http.StatusInternalServerError, CodeInternal)
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

// answer asks the engine (or the cache of its recent answers) and records what it decided.
func (s *Server) answer(q kb.Query) (kb.Answer, error) {
	ans, _, err := s.answerCached(q)
	return ans, err
}

// answerCached is answer that also returns the answer's cache entry (nil when not cached).
func (s *Server) answerCached(q kb.Query) (kb.Answer, *cacheEntry, error) {
	start := s.now()
	e := s.cache.get(q)
	var ans kb.Answer
	if e != nil {
		ans = e.ans
		ans.Related = append([]kb.Suggestion(nil), ans.Related...)
	} else {
		var err error
		if ans, err = s.engine.Ask(q); err != nil {
			return ans, nil, err
		}
		ans.Explain(s.cat)
		e = s.cache.put(q, ans)
	}
	s.metrics.answerSeconds.Observe(s.now().Sub(start).Seconds())
	if ans.Handoff {
		s.metrics.handoffs.WithLabelValues(ans.Lang, ans.Reason).Inc()
	} else {
		s.metrics.answers.WithLabelValues(ans.Lang).Inc()
	}
	return ans, e, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// acceptLanguage is the request's preferred supported language, English when none.
func (s *Server) acceptLanguage(r *http.Request) kb.Pref {
	if p, ok := kb.ParseLang(r.Header.Get("Accept-Language")); ok {
		return p
	}
	return kb.Pref{Lang: "en"}
}

// handleStrings serves the interface text of one language for the widget and the console:
// GET /api/v1/strings/fr -> {"lang": "fr", "dir": "ltr", "messages": {"Greeting": "...", ...}}.
// The language may be any BCP 47 tag; it is matched to one of the six.
func (s *Server) handleStrings(w http.ResponseWriter, r *http.Request) {
	p, ok := kb.ParseLang(r.PathValue("lang"))
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]ErrorBody{"error": s.errorBody(s.acceptLanguage(r).Lang, CodeUnsupportedLang)})
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	// Public text, read by the widget from any page that embeds it: no credentials involved.
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSON(w, http.StatusOK, map[string]any{
		"lang": p.Lang, "script": p.Script, "dir": locales.Dir(p.Lang), "messages": s.cat.Templates(p.Lang),
	})
}
