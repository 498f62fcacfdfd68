package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, func(string) string { return "" }, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), err
}

// The embedded knowledge base passes its own checks; a broken one is refused with the list of
// problems and a non-zero exit.
func TestKBCheck(t *testing.T) {
	out, _, err := runCmd(t, "", "kb", "check")
	if err != nil || !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("embedded: got %q, %v; want ok", out, err)
	}
	dir := t.TempDir()
	bad := `entries:
  - id: Bad_ID
    source:
      speaker: x
      outlet: y
    as_of: 2024-08-19
    zh:
      q: 问题
      a: 有37个口岸
    en:
      q: Question?
      a: There are 37 ports.
    fr:
      q: Question ?
      a: Il y a 38 ports.
    es:
      q: Pregunta
      a: Hay 37 puertos.
    ru:
      q: Вопрос
      a: ""
  - id: dup
    kind: smalltalk
    zh:
      q: 问题二
      a: 好
    en:
      q: Question?
      a: ok
    fr:
      q: b
      a: ok
    es:
      q: c
      a: ok
    ru:
      q: d
      a: ok
    ar:
      q: e
      a: ok
`
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runCmd(t, "", "kb", "check", "-kb", dir)
	if exitCode(err) != 1 {
		t.Errorf("broken kb: got exit %d, want 1 (%s)", exitCode(err), stderr)
	}
	for _, want := range []string{"id must be lowercase", "fr: answer states figures [38]", "ar: language missing",
		"ru: empty answer", `is also asked in entry`} {
		if !strings.Contains(out, want) {
			t.Errorf("problems: got\n%s%s\nwant a line with %q", out, stderr, want)
		}
	}
}

func TestAsk(t *testing.T) {
	out, _, err := runCmd(t, "", "ask", "-lang", "fr-CA", "How many ports offer 144-hour visa-free transit?")
	if err != nil {
		t.Fatal(err)
	}
	var a struct {
		Lang    string `json:"lang"`
		Answer  string `json:"answer"`
		Handoff bool   `json:"handoff"`
		FAQID   string `json:"faq_id"`
		AsOf    string `json:"as_of"`
	}
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if a.Lang != "fr" || a.Handoff || a.FAQID != "transit-144h" || a.AsOf != "2024-08-19" || !strings.Contains(a.Answer, "37") {
		t.Errorf("got %+v, want the French answer of transit-144h", a)
	}
	if _, _, err := runCmd(t, "", "ask", "-lang", "de", "Hallo"); err == nil {
		t.Error("ask -lang de: got no error, want unsupported language")
	}
	if _, _, err := runCmd(t, "", "ask"); exitCode(err) != 2 {
		t.Errorf("ask without a question: got %v, want exit 2", err)
	}
}

func TestAgentAdd(t *testing.T) {
	dir := t.TempDir()
	out, _, err := runCmd(t, "a long enough password\n", "agent", "add", "-name", "li", "-langs", "zh,en", "-data", dir)
	if err != nil || !strings.Contains(out, "agent li added") {
		t.Fatalf("got %q, %v", out, err)
	}
	if _, _, err := runCmd(t, "a long enough password\n", "agent", "add", "-name", "li", "-langs", "zh", "-data", dir); exitCode(err) != 1 {
		t.Errorf("same name again: got %v, want exit 1", err)
	}
	for _, args := range [][]string{
		{"agent", "add", "-name", "x", "-langs", "de", "-data", dir},
		{"agent", "add", "-langs", "en", "-data", dir},
		{"agent", "add", "-name", "y", "-langs", "en", "-role", "boss", "-data", dir},
	} {
		if _, _, err := runCmd(t, "a long enough password\n", args...); exitCode(err) != 2 {
			t.Errorf("%v: got %v, want exit 2", args, err)
		}
	}
	if _, _, err := runCmd(t, "short\n", "agent", "add", "-name", "z", "-langs", "en", "-data", dir); exitCode(err) != 2 {
		t.Errorf("short password: got %v, want exit 2", err)
	}
}

func TestServeFlags(t *testing.T) {
	env := map[string]string{"HOTLINE_ORIGINS": "https://a.example, https://b.example", "HOTLINE_WECHAT_TOKEN": "tok"}
	c, err := parseServe([]string{"-addr", "127.0.0.1:0", "-threshold", "0.6"}, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Threshold != 0.6 || len(c.Server.Origins) != 2 || c.WeChat.Token != "tok" || c.WeChat.API != "https://api.weixin.qq.com" {
		t.Errorf("got %+v", c)
	}
	if c.Server.MaxConns != -1 {
		t.Errorf("max-conns by default: got %d, want -1 (from the open-files limit)", c.Server.MaxConns)
	}
	if c, err := parseServe([]string{"-max-conns", "500"}, func(string) string { return "" }, &bytes.Buffer{}); err != nil || c.Server.MaxConns != 500 {
		t.Errorf("-max-conns 500: got %d, %v", c.Server.MaxConns, err)
	}
	for _, args := range [][]string{{"-threshold", "2"}, {"-idle-timeout", "soon"}, {"-workers", "-1"}, {"-max-conns", "many"}, {"-max-conns", "-2"}} {
		if _, err := parseServe(args, func(string) string { return "" }, &bytes.Buffer{}); err == nil {
			t.Errorf("%v: got no error", args)
		}
	}
}
