package kb

import (
	"os"
	"slices"
	"testing"
)

// TestTune explores the scoring parameters over the evaluation set when EVAL_TUNE is set. It
// prints; it asserts nothing.
func TestTune(t *testing.T) {
	if os.Getenv("EVAL_TUNE") == "" {
		t.Skip("set EVAL_TUNE=1 to explore scoring parameters")
	}
	e := testEngine(t)
	qs := loadEval(t)
	saveU, saveH, saveE, saveT := unknownWeight, unknownHalf, evidenceFull, e.threshold
	defer func() { unknownWeight, unknownHalf, evidenceFull, e.threshold = saveU, saveH, saveE, saveT }()
	for _, uz := range []float64{0.4, 0.6} {
		for _, ul := range []float64{0.8, 1, 1.3} {
			for _, ev := range []float64{3, 6, 9} {
				for _, th := range []float64{0.45, 0.5, 0.55, 0.6} {
					unknownWeight = map[string]float64{"zh": uz, "en": ul, "fr": ul, "es": ul, "ru": ul, "ar": ul}
					unknownHalf, e.threshold = ev, th
					var in, inOK, out, outOK int
					worst := 1.0
					per := map[string][4]int{}
					for _, q := range qs {
						a, _ := e.Ask(Query{Text: q.Q})
						got := a.FAQID
						if a.Handoff && a.Reason == ReasonLowConfidence {
							got = "handoff"
						}
						p := per[q.Lang]
						if slices.Equal(q.Want, []string{"handoff"}) {
							out++
							p[2]++
							if got == "handoff" {
								outOK++
								p[3]++
							}
						} else {
							in++
							p[0]++
							if slices.Contains(q.Want, got) {
								inOK++
								p[1]++
							}
						}
						per[q.Lang] = p
					}
					for _, p := range per {
						worst = min(worst, float64(p[1])/float64(p[0]), float64(p[3])/float64(p[2]))
					}
					t.Logf("uz=%.1f ul=%.1f half=%.0f th=%.2f  in %.3f out %.3f worst %.2f", uz, ul, ev, th,
						float64(inOK)/float64(in), float64(outOK)/float64(out), worst)
				}
			}
		}
	}
}
