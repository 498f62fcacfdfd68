package kb

import (
	"strings"
	"testing"
)

func TestTraditionalAnswer(t *testing.T) {
	e := testEngine(t)
	a, err := e.Ask(Query{Text: "過境免簽可以停留多久？"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Lang != "zh" || a.Script != "Hant" || a.Handoff {
		t.Fatalf("got %+v, want an answer in traditional Chinese", a)
	}
	if !strings.Contains(a.Text, "免簽") || strings.ContainsAny(a.Text, "籤髮签") {
		t.Errorf("answer: got %q, want 免簽 and no 籤, 髮 or simplified 签", a.Text)
	}
}

func TestParseLang(t *testing.T) {
	for _, tt := range []struct {
		in, lang, script string
		ok               bool
	}{
		{"zh-TW", "zh", "Hant", true}, {"zh-HK", "zh", "Hant", true}, {"zh-CN", "zh", "", true},
		{"fr-CA", "fr", "", true}, {"ar-EG", "ar", "", true}, {"es-419", "es", "", true},
		{"de-DE,en;q=0.5", "en", "", true}, {"de", "", "", false}, {"", "", "", false},
	} {
		p, ok := ParseLang(tt.in)
		if ok != tt.ok || p.Lang != tt.lang || p.Script != tt.script {
			t.Errorf("ParseLang(%q): got %+v %v, want %s %s %v", tt.in, p, ok, tt.lang, tt.script, tt.ok)
		}
	}
}
