package kb

import (
	"fmt"
	"os"
	"slices"
	"testing"
)

// TestFeatures prints, for every evaluation question, what the best candidate's scores were,
// when EVAL_FEATURES is set. It asserts nothing.
func TestFeatures(t *testing.T) {
	if os.Getenv("EVAL_FEATURES") == "" {
		t.Skip("set EVAL_FEATURES=1")
	}
	e := testEngine(t)
	for _, q := range loadEval(t) {
		d := e.detector.detect(q.Q)
		text := q.Q
		if d.Lang == "zh" {
			text, _ = simplify(text)
		}
		m := e.match(d.Lang, text)
		label := "in"
		if slices.Equal(q.Want, []string{"handoff"}) {
			label = "OOS"
		}
		if len(m.cands) == 0 {
			fmt.Printf("%s\t%s\t-\t%s\n", label, q.Lang, q.Q)
			continue
		}
		c := m.cands[0]
		ok := slices.Contains(q.Want, c.entry.ID)
		fmt.Printf("%s\t%v\tconf=%.2f\tphrase=%.2f\tm=%.1f k=%.1f u=%.1f\t%s\t%s\n", label, ok, c.conf, c.phrase, c.m, c.k, c.u, c.entry.ID, q.Q)
	}
}
