package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hotline12367/hotline/client"
	"github.com/hotline12367/hotline/kb"
	"github.com/hotline12367/hotline/server"
	"github.com/hotline12367/hotline/store"
)

// post sends body to /api/v1/ask and returns the status and the decoded JSON object.
func post(t *testing.T, s *testServer, body, acceptLang string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.ts.URL+"/api/v1/ask", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if acceptLang != "" {
		req.Header.Set("Accept-Language", acceptLang)
	}
	return do(t, s, req)
}

func do(t *testing.T, s *testServer, req *http.Request) (int, http.Header, map[string]any) {
	t.Helper()
	resp, err := s.ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s %s: got body %q, want a JSON object: %v", req.Method, req.URL.Path, b, err)
	}
	return resp.StatusCode, resp.Header, v
}

func jsonString(v string) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestAsk(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	tests := []struct {
		name, body, acceptLang string
		wantLang, wantScript   string
	}{
		{"English", `{"text":"Can I transit through China for 144 hours without a visa?"}`, "", "en", ""},
		{"Chinese", `{"text":"外国人过境中国可以免签停留多少小时？"}`, "", "zh", ""},
		{"Russian", `{"text":"Сколько часов длится безвизовый транзит через Китай?"}`, "", "ru", ""},
		{"Arabic", `{"text":"كم ساعة يمكنني البقاء في الصين للعبور بدون تأشيرة؟"}`, "", "ar", ""},
		{"auto, French", `{"text":"Puis-je faire une escale de 144 heures en Chine sans visa ?","lang":"auto"}`, "", "fr", ""},
		{"auto, Spanish", `{"text":"¿Puedo hacer una escala de 144 horas en China sin visado?","lang":"auto"}`, "en", "es", ""},
		{"fr-CA for an English question", `{"text":"Can I transit through China for 144 hours without a visa?","lang":"fr-CA"}`, "", "fr", ""},
		{"es-419", `{"text":"Can I transit through China for 144 hours without a visa?","lang":"es-419"}`, "", "es", ""},
		{"zh-TW", `{"text":"外国人过境中国可以免签停留多少小时？","lang":"zh-TW"}`, "", "zh", "Hant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, h, v := post(t, s, tt.body, tt.acceptLang)
			if status != http.StatusOK {
				t.Fatalf("status: got %d %v, want 200", status, v)
			}
			if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type: got %q, want application/json", ct)
			}
			for _, k := range []string{"lang", "answer", "handoff", "confidence", "faq_id", "kind", "source", "as_of", "related"} {
				if _, ok := v[k]; !ok {
					t.Errorf("field %q: got none, want it (body %v)", k, v)
				}
			}
			lang, _ := v["lang"].(string)
			if lang != tt.wantLang || !slices.Contains(kb.Langs, lang) {
				t.Errorf("lang: got %q, want %q", lang, tt.wantLang)
			}
			if script, _ := v["script"].(string); script != tt.wantScript {
				t.Errorf("script: got %q, want %q", script, tt.wantScript)
			}
			if v["faq_id"] != "transit-144h" || v["handoff"] != false {
				t.Errorf("got faq_id=%v handoff=%v, want transit-144h false", v["faq_id"], v["handoff"])
			}
			if tt.wantScript == "" && v["answer"] != answerText(t, "transit-144h", tt.wantLang) {
				t.Errorf("answer: got %q, want the %s answer", v["answer"], tt.wantLang)
			}
			src, _ := v["source"].(map[string]any)
			for _, k := range []string{"speaker", "outlet", "document"} {
				if s, _ := src[k].(string); s == "" {
					t.Errorf("source.%s: got none, want it", k)
				}
			}
			if _, ok := v["related"].([]any); !ok {
				t.Errorf("related: got %v, want a list", v["related"])
			}
		})
	}
}

func TestAskErrors(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	tests := []struct {
		name       string
		method     string
		body       string
		status     int
		code       string
		acceptLang string
	}{
		{"empty text", "POST", `{"text":""}`, 400, server.CodeEmpty, ""},
		{"blank text", "POST", `{"text":"  \n "}`, 400, server.CodeEmpty, ""},
		{"no text", "POST", `{}`, 400, server.CodeEmpty, ""},
		{"2001 characters", "POST", `{"text":` + jsonString(strings.Repeat("签", 2001)) + `}`, 400, server.CodeTooLong, ""},
		{"body over the limit", "POST", `{"text":` + jsonString(strings.Repeat("a", 20000)) + `}`, 413, server.CodeTooLong, ""},
		{"malformed JSON", "POST", `{"text":`, 400, server.CodeBadJSON, ""},
		{"not JSON", "POST", `text=hello`, 400, server.CodeBadJSON, ""},
		{"unknown field", "POST", `{"text":"hello","question":"hello"}`, 400, server.CodeBadJSON, ""},
		{"two objects", "POST", `{"text":"hello"}{"text":"again"}`, 400, server.CodeBadJSON, ""},
		{"text not a string", "POST", `{"text":42}`, 400, server.CodeBadJSON, ""},
		{"unsupported lang", "POST", `{"text":"hello","lang":"de"}`, 400, server.CodeUnsupportedLang, ""},
		{"unsupported lang, in French", "POST", `{"text":"bonjour","lang":"de"}`, 400, server.CodeUnsupportedLang, "fr"},
		{"empty, in Arabic", "POST", `{"text":""}`, 400, server.CodeEmpty, "ar"},
		{"GET", "GET", ``, 405, server.CodeBadJSON, ""},
	}
	english := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, s.ts.URL+"/api/v1/ask", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.acceptLang != "" {
				req.Header.Set("Accept-Language", tt.acceptLang)
			}
			status, h, v := do(t, s, req)
			if status != tt.status {
				t.Errorf("status: got %d, want %d", status, tt.status)
			}
			if tt.status == 405 && h.Get("Allow") != "POST" {
				t.Errorf("Allow: got %q, want POST", h.Get("Allow"))
			}
			e, ok := v["error"].(map[string]any)
			if len(v) != 1 || !ok || len(e) != 2 {
				t.Fatalf("body: got %v, want {\"error\":{\"code\",\"message\"}}", v)
			}
			msg, _ := e["message"].(string)
			if e["code"] != tt.code || msg == "" {
				t.Errorf("error: got %v, want code %s and a message", e, tt.code)
			}
			if tt.acceptLang == "" {
				english[tt.code] = msg
			} else if want := catalog.T(tt.acceptLang, map[string]string{
				server.CodeUnsupportedLang: "ErrUnsupportedLang", server.CodeEmpty: "ErrEmpty"}[tt.code], nil); msg != want || msg == english[tt.code] {
				t.Errorf("message: got %q, want %q (not the English %q)", msg, want, english[tt.code])
			}
		})
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	srv := server.New(testConfig(), server.Options{Engine: engine, Catalog: catalog, Store: db})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := ts.Client().Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	check := func(path string, wantStatus int, wantBody string) {
		t.Helper()
		status, body := get(path)
		if status != wantStatus || !strings.Contains(body, wantBody) {
			t.Errorf("GET %s: got %d %q, want %d with %q", path, status, body, wantStatus, wantBody)
		}
	}

	check("/healthz", 200, `"ok"`)
	check("/readyz", 503, `"starting"`)
	srv.Start(context.Background())
	check("/readyz", 200, `"ready"`)

	// Something to count: a question over HTTP and a visitor connected.
	resp, err := ts.Client().Post(ts.URL+"/api/v1/ask", "application/json",
		strings.NewReader(`{"text":"Can I transit through China for 144 hours without a visa?"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	c, err := client.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/ws", &client.Session{}, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"hotline_ws_connections 1",
		`hotline_answers_total{lang="en"} 1`,
		"hotline_answer_seconds",
		"hotline_ws_messages_in_total",
	} {
		check("/metrics", 200, want)
	}
	c.Close()

	ctx, cancel = context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for range 20 { // a select between "closing" and "ready" would pass now and then
		check("/readyz", 503, `"shutting down"`)
	}
	check("/healthz", 200, `"ok"`)
}
