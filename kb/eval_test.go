package kb

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"
)

type evalQuestion struct {
	Lang string   `yaml:"lang"`
	Q    string   `yaml:"q"`
	Want []string `yaml:"want"`
}

var (
	engineOnce sync.Once
	engineVal  *Engine
	engineErr  error
)

// testEngine builds the engine over the embedded knowledge base once per test binary.
func testEngine(t testing.TB) *Engine {
	t.Helper()
	engineOnce.Do(func() {
		entries, err := Load(Embedded())
		if err != nil {
			engineErr = err
			return
		}
		engineVal, engineErr = New(entries, 0)
	})
	if engineErr != nil {
		t.Fatal(engineErr)
	}
	return engineVal
}

func loadEval(t testing.TB) []evalQuestion {
	t.Helper()
	b, err := os.ReadFile("testdata/eval.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Questions []evalQuestion `yaml:"questions"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.Questions
}

// TestEvaluation asks the evaluation set (questions written apart from the knowledge base)
// and reports per language the share answered right, handed off right, and answered in the
// right language. Each share must reach 90%.
func TestEvaluation(t *testing.T) {
	e := testEngine(t)
	type tally struct{ inScope, answeredRight, outScope, handedOffRight, total, langRight int }
	per := map[string]*tally{}
	var misses []string
	for _, q := range loadEval(t) {
		tl := per[q.Lang]
		if tl == nil {
			tl = &tally{}
			per[q.Lang] = tl
		}
		a, err := e.Ask(Query{Text: q.Q})
		if err != nil {
			t.Fatalf("%q: %v", q.Q, err)
		}
		tl.total++
		if a.Lang == q.Lang {
			tl.langRight++
		} else {
			misses = append(misses, fmt.Sprintf("%s lang: %q answered in %s", q.Lang, q.Q, a.Lang))
		}
		wantHandoff := slices.Equal(q.Want, []string{"handoff"})
		got := a.FAQID
		if a.Handoff && a.Reason != ReasonRequested {
			got = "handoff"
		}
		if wantHandoff {
			tl.outScope++
			if got == "handoff" {
				tl.handedOffRight++
			} else {
				misses = append(misses, fmt.Sprintf("%s out: %q got %s (%.2f)", q.Lang, q.Q, got, a.Confidence))
			}
			continue
		}
		tl.inScope++
		if slices.Contains(q.Want, got) {
			tl.answeredRight++
		} else {
			misses = append(misses, fmt.Sprintf("%s in: %q got %s (%.2f), want %v", q.Lang, q.Q, got, a.Confidence, q.Want))
		}
	}
	sort.Strings(misses)
	if testing.Verbose() || os.Getenv("EVAL_MISSES") != "" {
		t.Log("misses:\n" + strings.Join(misses, "\n"))
	}
	for _, lang := range Langs {
		tl := per[lang]
		if tl == nil || tl.inScope < 20 || tl.outScope < 8 {
			t.Errorf("%s: evaluation set too small: %+v", lang, tl)
			continue
		}
		answered := float64(tl.answeredRight) / float64(tl.inScope)
		handed := float64(tl.handedOffRight) / float64(tl.outScope)
		langOK := float64(tl.langRight) / float64(tl.total)
		t.Logf("%s: answered right %3.0f%% (%d/%d), handed off right %3.0f%% (%d/%d), right language %3.0f%%",
			lang, 100*answered, tl.answeredRight, tl.inScope, 100*handed, tl.handedOffRight, tl.outScope, 100*langOK)
		for name, share := range map[string]float64{"answered right": answered, "handed off right": handed, "right language": langOK} {
			if share < 0.9 {
				t.Errorf("%s: %s %.0f%%, want at least 90%%", lang, name, 100*share)
			}
		}
	}
}
