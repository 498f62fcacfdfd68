package kb

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"testing"
)

// TestTune explores the scoring parameters over the evaluation set when EVAL_TUNE is set. It
// prints the best settings; it asserts nothing.
func TestTune(t *testing.T) {
	if os.Getenv("EVAL_TUNE") == "" {
		t.Skip("set EVAL_TUNE=1 to explore scoring parameters")
	}
	e := testEngine(t)
	qs := loadEval(t)
	saveU, saveM, saveT := unknownWeight, phraseMix, e.threshold
	defer func() { unknownWeight, phraseMix, e.threshold = saveU, saveM, saveT }()
	type row struct {
		worst, in, out float64
		desc           string
	}
	var rows []row
	for _, uz := range []float64{0.3, 0.5} {
		for _, ul := range []float64{0.3, 0.5, 0.7} {
			for _, mix := range []float64{0.3, 0.5, 0.7} {
				for _, th := range []float64{0.35, 0.4, 0.45, 0.5} {
					unknownWeight = map[string]float64{"zh": uz, "en": ul, "fr": ul, "es": ul, "ru": ul, "ar": ul}
					phraseMix, e.threshold = mix, th
					per := map[string]*[4]int{}
					for _, q := range qs {
						a, _ := e.Ask(Query{Text: q.Q})
						got := a.FAQID
						if a.Handoff && a.Reason != ReasonRequested {
							got = "handoff"
						}
						p := per[q.Lang]
						if p == nil {
							p = &[4]int{}
							per[q.Lang] = p
						}
						if slices.Equal(q.Want, []string{"handoff"}) {
							p[2]++
							if got == "handoff" {
								p[3]++
							}
						} else {
							p[0]++
							if slices.Contains(q.Want, got) {
								p[1]++
							}
						}
					}
					r := row{worst: 1}
					var in, inOK, out, outOK int
					for _, p := range per {
						in, inOK, out, outOK = in+p[0], inOK+p[1], out+p[2], outOK+p[3]
						r.worst = min(r.worst, float64(p[1])/float64(p[0]), float64(p[3])/float64(p[2]))
					}
					r.in, r.out = float64(inOK)/float64(in), float64(outOK)/float64(out)
					r.desc = fmt.Sprintf("uz=%.1f ul=%.1f mix=%.1f th=%.2f", uz, ul, mix, th)
					rows = append(rows, r)
				}
			}
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].worst != rows[j].worst {
			return rows[i].worst > rows[j].worst
		}
		return min(rows[i].in, rows[i].out) > min(rows[j].in, rows[j].out)
	})
	for _, r := range rows[:min(15, len(rows))] {
		t.Logf("%s  in %.3f out %.3f worst %.2f", r.desc, r.in, r.out, r.worst)
	}
}
