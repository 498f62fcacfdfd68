package kb

import (
	"os"
	"testing"
)

// TestExplain prints how the engine sees the question in $EXPLAIN (language in $EXPLAIN_LANG).
func TestExplain(t *testing.T) {
	q := os.Getenv("EXPLAIN")
	if q == "" {
		t.Skip("set EXPLAIN to a question")
	}
	e := testEngine(t)
	lang := os.Getenv("EXPLAIN_LANG")
	d := e.detector.detect(q)
	if lang == "" {
		lang = d.Lang
	}
	v := e.vocabs[lang]
	text, _ := simplify(q)
	if lang != "zh" {
		text = q
	}
	for _, tok := range v.analyze(text) {
		t.Logf("term %q df=%d filler=%v social=%v correct=%q", tok.term, v.df[tok.term], v.filler[tok.term], v.social[tok.term], v.correct(tok.term))
	}
	m := e.match(lang, text)
	for i, c := range m.cands {
		if i > 5 {
			break
		}
		t.Logf("cand %s conf=%.3f score=%.2f", c.entry.ID, c.conf, c.score)
	}
}
