package kb

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2"
)

// Engine answers questions from the knowledge base. It is safe for concurrent use; nothing in
// it changes after New returns.
type Engine struct {
	entries   []*Entry
	byID      map[string]*Entry
	pos       map[string]int // id -> index in entries
	index     bleve.Index
	vocabs    map[string]*vocab
	detector  *detector
	threshold float64
}

// DefaultThreshold is the confidence under which the engine hands off instead of answering.
const DefaultThreshold = 0.45

// ErrInvalid is returned by New for a knowledge base that fails Check.
var ErrInvalid = errors.New("kb: invalid knowledge base")

// New builds the engine over entries, which must pass Check. A threshold of 0 means
// DefaultThreshold.
func New(entries []*Entry, threshold float64) (*Engine, error) {
	if probs := Check(entries); len(probs) > 0 {
		return nil, fmt.Errorf("%w: %d problems, first: %s", ErrInvalid, len(probs), probs[0])
	}
	if threshold <= 0 {
		threshold = DefaultThreshold
	}
	idx, vocabs, err := buildIndex(entries)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		entries: entries, byID: map[string]*Entry{}, pos: map[string]int{}, index: idx, vocabs: vocabs,
		detector: newDetector(entries), threshold: threshold,
	}
	for i, en := range entries {
		e.byID[en.ID] = en
		e.pos[en.ID] = i
	}
	return e, nil
}

// Close releases the index.
func (e *Engine) Close() error { return e.index.Close() }

// Entries returns the entries the engine answers from.
func (e *Engine) Entries() []*Entry { return e.entries }

// Entry returns the entry with id, or nil.
func (e *Engine) Entry(id string) *Entry { return e.byID[id] }

// Threshold returns the confidence under which the engine hands off.
func (e *Engine) Threshold() float64 { return e.threshold }

// Query is a question to answer.
type Query struct {
	Text string
	// Lang, when set, is the language the visitor chose: the engine answers in it.
	Lang string
	// Hint is the language to fall back on when the text does not tell (a conversation's
	// language, the browser's Accept-Language); empty means English.
	Hint Pref
}

// Reasons for a handoff.
const (
	ReasonRequested     = "requested"      // the visitor asked for a person
	ReasonLowConfidence = "low_confidence" // nothing in the knowledge base answers it well enough
	ReasonOutOfScope    = "out_of_scope"   // a question the knowledge base knows it cannot answer
)

// Answer is the engine's reply to a query.
type Answer struct {
	Lang       string       `json:"lang"`
	Script     string       `json:"script,omitempty"` // "Hant" when written in traditional Chinese
	Text       string       `json:"answer"`
	Handoff    bool         `json:"handoff"`
	Reason     string       `json:"reason,omitempty"`
	Confidence float64      `json:"confidence"`
	FAQID      string       `json:"faq_id,omitempty"`
	Kind       string       `json:"kind,omitempty"`
	Source     *Source      `json:"source,omitempty"`
	AsOf       string       `json:"as_of,omitempty"`
	Related    []Suggestion `json:"related"`
}

// Suggestion is a question the visitor may have meant, in the visitor's language.
type Suggestion struct {
	ID       string `json:"id"`
	Question string `json:"question"`
}

// Ask answers q. When nothing answers it with a confidence of at least the threshold, or the
// visitor asks for a person, the Answer has Handoff set and no Text: the caller says so in
// the visitor's language.
func (e *Engine) Ask(q Query) (Answer, error) {
	text := strings.TrimSpace(q.Text)
	pref := q.Hint
	d := e.detector.detect(text)
	// The language the question is matched in: the one it is written in when that is clear,
	// even if the visitor chose to be answered in another (every entry has all six).
	matchLang := ""
	if q.Lang != "" {
		p, ok := ParseLang(q.Lang)
		if !ok {
			return Answer{}, fmt.Errorf("%w: %q", ErrUnsupportedLang, q.Lang)
		}
		pref = p
		if d.Sure && d.Lang != p.Lang {
			matchLang = d.Lang
		}
	} else if d.Lang != "" && d.Lang != pref.Lang {
		switch {
		case d.Sure:
			pref = Pref{Lang: d.Lang}
		case !sameFamily(d.Lang, pref.Lang):
			// Too little to tell English, French and Spanish apart ("visa", "144") and no
			// Latin-script hint: English.
			pref = Pref{Lang: "en"}
		}
	}
	if !ValidLang(pref.Lang) {
		pref = Pref{Lang: "en"}
	}
	if matchLang == "" {
		matchLang = pref.Lang
	}
	if matchLang == "zh" {
		var script string
		if pref.Script == "Hant" && q.Lang == "" {
			text, script = simplifyScript(text) // back to simplified if the visitor is
		} else if simp, trad := simplify(text); trad {
			text, script = simp, "Hant"
		}
		if pref.Lang == "zh" && q.Lang == "" && script != "" && script != pref.Script {
			// Detected, not chosen: write in the script the visitor writes in.
			pref.Script = script
			if script == "Hans" {
				pref.Script, pref.Region = "", ""
			}
		}
	}
	m := e.match(matchLang, text)
	ans := Answer{Lang: pref.Lang, Related: []Suggestion{}}
	if pref.Traditional() {
		ans.Script = "Hant"
	}
	ans.Confidence = math.Round(m.confidence*1000) / 1000
	switch {
	case m.best != nil && m.confidence >= e.threshold:
		ans.FAQID = m.best.ID
		ans.Kind = m.best.Kind
		ans.Text = m.best.Text[pref.Lang].A
		switch m.best.Kind {
		case KindHandoff:
			ans.Handoff, ans.Reason, ans.Text = true, ReasonRequested, ""
		case KindOutOfScope:
			ans.Handoff, ans.Reason, ans.Text = true, ReasonOutOfScope, ""
			ans.FAQID = ""
		}
		if m.best.Kind == KindFAQ {
			ans.Source = m.best.Source
			ans.AsOf = m.best.AsOf
		}
		ans.Related = e.suggest(pref.Lang, m, m.best)
	default:
		ans.Handoff = true
		ans.Reason = ReasonLowConfidence
		ans.Related = e.suggest(pref.Lang, m, nil)
	}
	if pref.Traditional() {
		ans.Text = han.toTraditional(ans.Text, pref.Region)
		for i := range ans.Related {
			ans.Related[i].Question = han.toTraditional(ans.Related[i].Question, pref.Region)
		}
	}
	return ans, nil
}

// ErrUnsupportedLang is returned by Ask for an explicit language that is not one of Langs.
var ErrUnsupportedLang = errors.New("kb: unsupported language")

func sameFamily(a, b string) bool {
	latin := func(l string) bool { return l == "en" || l == "fr" || l == "es" }
	return a == b || latin(a) && latin(b)
}

type candidate struct {
	entry   *Entry
	conf    float64
	phrase  float64 // how much of the entry's best-matching phrasing the question covers
	score   float64
	m, k, u float64
}

type matchResult struct {
	best       *Entry
	confidence float64
	cands      []candidate // best first
}

// Scoring parameters; see match. They are variables so that the evaluation test can explore
// them, never changed at run time.
var (
	// unknownWeight discounts the words the knowledge base has never seen, the more so the
	// more the rest of the question matches: in a long question that is clearly about one
	// entry they are mostly the asker's circumstances ("I fly London to Sydney..."); in a
	// short one ("how much is a visa?") they are the point. Chinese counts half: its
	// bigrams make two or three unknown terms of every unknown word.
	unknownWeight = map[string]float64{"zh": 0.5, "en": 0.5, "fr": 0.5, "es": 0.5, "ru": 0.5, "ar": 0.5}
	// unknownHalf is the matched information at which unknown words count half.
	unknownHalf = 6.0
	// evidenceFull is the matched information (sum of matched terms' weights) needed for full
	// confidence: about two specific words. "visa" alone says too little to be sure.
	evidenceFull = 4.0
	// phraseWeight is how much the best-covered phrasing counts in ranking candidates.
	phraseWeight = 0.15
	// phraseMix is how much the best-covered phrasing counts in the confidence.
	phraseMix = 0.5
	// idfPower sharpens term weights: rare terms say what a question is about.
	idfPower = 1.0
)

// match finds the entry that best accounts for the question. Each term of the question weighs
// what it tells: log(1 + N/(df+0.5)) for a term found in df of the N entries, a word unknown
// to the knowledge base weighing like the rarest (discounted by unknownWeight). For an entry,
// M is the weight of the question's terms it has (its questions and keywords fully, its answer
// at strengthAnswer), K the weight of known terms it lacks, U the weight of unknown terms.
// Its confidence is coverage × evidence:
//
//	coverage = M / (M + K + unknownWeight·U)     how much of the question the entry accounts for
//	evidence = min(1, M / evidenceFull)          whether the question said enough to be sure
//
// So "weather in Beijing" finds "Beijing" but not "weather" and is handed off; "a visa for
// Japan" matches only the common "visa" and is handed off; a long question full of personal
// details is still answered when its topic words all match one entry.
func (e *Engine) match(lang, text string) matchResult {
	v := e.vocabs[lang]
	toks := v.analyze(text)
	type qterm struct {
		known  string // the known term, after typo correction ("" for an unknown word)
		fuzzy  bool
		social bool
		weight float64
	}
	known := make([]bool, len(toks))
	onlyFiller := true
	for i, t := range toks {
		known[i] = v.df[t.term] > 0 || v.filler[t.term]
		if !v.filler[t.term] {
			onlyFiller = false
		}
	}
	var terms []qterm
	seen := map[string]bool{}
	for i, t := range toks {
		// Filler words ("please", "请问") count only when they are all there is ("hello").
		if seen[t.term] || v.filler[t.term] && !onlyFiller {
			continue
		}
		seen[t.term] = true
		var qt qterm
		switch {
		case v.df[t.term] > 0:
			qt.known = t.term
		case lang == "zh" && bigramExplained(text, toks, known, i, v):
			continue // a bigram across two words ("卡可" in "五星卡可以"), explained by its neighbours
		default:
			if c := v.correct(t.term); c != "" {
				qt.known, qt.fuzzy = c, true
			}
		}
		qt.weight = v.weight(qt.known)
		qt.social = qt.known != "" && v.social[qt.known]
		terms = append(terms, qt)
	}
	if len(terms) == 0 {
		return matchResult{}
	}
	searchTerms := make([]string, 0, len(terms))
	qset := make(map[string]bool, len(terms))
	for _, t := range terms {
		if t.known != "" {
			searchTerms = append(searchTerms, t.known)
			qset[t.known] = true
		}
	}
	hits, err := search(e.index, lang, searchTerms, 10)
	if err != nil || len(hits) == 0 {
		return matchResult{}
	}
	maxScore := hits[0].score
	var cands []candidate
	for _, h := range hits {
		en := e.byID[h.id]
		entryTerms := v.terms[e.pos[en.ID]]
		var m, k, u float64
		for _, t := range terms {
			switch {
			case t.social && (en.Kind == KindFAQ || en.Kind == KindOutOfScope):
				// Greetings and thanks neither help nor hurt a factual question.
			case t.known == "":
				u += t.weight
			case entryTerms[t.known] > 0:
				s := entryTerms[t.known]
				if t.fuzzy {
					s *= strengthFuzzy
				}
				m += t.weight * s
				k += t.weight * (1 - s)
			default:
				k += t.weight
			}
		}
		if m == 0 {
			continue
		}
		lambda := unknownWeight[lang] * unknownHalf / (unknownHalf + m)
		conf := m / (m + k + lambda*u) * math.Min(1, m/evidenceFull)
		// The other direction: of the entry's phrasings, the one the question covers best.
		// Among entries that account for the whole question, it prefers "What is the
		// five-star card?" to "How do I renew my five-star card?" for "five-star card".
		phrase := 0.0
		pos := e.pos[en.ID]
		for i, ph := range v.phrases[pos] {
			var got float64
			for _, term := range ph {
				if qset[term] {
					got += v.idf[term]
				}
			}
			if all := v.phraseW[pos][i]; all > 0 {
				phrase = max(phrase, got/all)
			}
		}
		conf = (conf + phraseMix*phrase) / (1 + phraseMix)
		cands = append(cands, candidate{entry: en, conf: conf, phrase: phrase, score: h.score / maxScore, m: m, k: k, u: u})
	}
	if len(cands) == 0 {
		return matchResult{}
	}
	rank := func(c candidate) float64 { return c.conf + phraseWeight*c.phrase + 0.01*c.score }
	sort.SliceStable(cands, func(i, j int) bool { return rank(cands[i]) > rank(cands[j]) })
	res := matchResult{best: cands[0].entry, confidence: cands[0].conf, cands: cands}
	// Asking for a person wins over the topic they want to talk about.
	for _, c := range cands {
		if c.entry.Kind == KindHandoff && c.conf >= 0.4 {
			res.best, res.confidence = c.entry, math.Max(c.conf, e.threshold)
			break
		}
	}
	return res
}

// bigramExplained reports whether the unknown Chinese bigram toks[i] only straddles two
// words, each of its characters being part of a known bigram beside it or a filler.
func bigramExplained(text string, toks []token, known []bool, i int, v *vocab) bool {
	t := toks[i]
	if utf8.RuneCountInString(t.term) != 2 {
		return false
	}
	_, size := utf8.DecodeRuneInString(text[t.start:])
	covered := func(start, end int) bool {
		if v.filler[text[start:end]] {
			return true
		}
		for j, o := range toks {
			if j != i && known[j] && o.start <= start && o.end >= end {
				return true
			}
		}
		return false
	}
	return covered(t.start, t.start+size) && covered(t.start+size, t.end)
}

// suggest returns up to three questions the visitor may have meant or may ask next: close
// candidates of the match, then the entry's own related entries.
func (e *Engine) suggest(lang string, m matchResult, answered *Entry) []Suggestion {
	out := []Suggestion{}
	seen := map[string]bool{}
	add := func(en *Entry) {
		if en == nil || seen[en.ID] || en.Kind != KindFAQ || len(out) >= 3 {
			return
		}
		seen[en.ID] = true
		out = append(out, Suggestion{ID: en.ID, Question: en.Text[lang].Q})
	}
	if answered != nil {
		seen[answered.ID] = true
	}
	top := 0.0
	if len(m.cands) > 0 {
		top = m.cands[0].conf
	}
	for _, c := range m.cands {
		if c.conf >= 0.25 && c.conf >= 0.5*top {
			add(c.entry)
		}
	}
	if answered != nil {
		for _, id := range answered.Related {
			add(e.byID[id])
		}
	}
	return out
}

// Translator renders a system message (from the locales catalog) in a language.
type Translator interface {
	T(lang, id string, data map[string]any) string
}

// Explain fills in the text of a handoff from the catalog: the engine itself knows only
// the knowledge base, not the system messages.
func (a *Answer) Explain(tr Translator) {
	if !a.Handoff || a.Text != "" {
		return
	}
	id := "HandoffLowConfidence"
	switch a.Reason {
	case ReasonRequested:
		id = "HandoffRequested"
	case ReasonOutOfScope:
		id = "HandoffOutOfScope"
	}
	a.Text = tr.T(a.Lang, id, nil)
	if a.Script == "Hant" {
		a.Text = han.toTraditional(a.Text, "")
	}
}

// Scored is an entry with the engine's confidence that it answers a question.
type Scored struct {
	Entry      *Entry
	Confidence float64
}

// Nearest returns up to n FAQ entries nearest a question written in lang, best first,
// whatever their confidence: the suggestions an agent picks from.
func (e *Engine) Nearest(lang, text string, n int) []Scored {
	if lang == "zh" {
		text, _ = simplify(text)
	}
	if !ValidLang(lang) {
		lang = "en"
	}
	var out []Scored
	for _, c := range e.match(lang, text).cands {
		if c.entry.Kind == KindFAQ && len(out) < n {
			out = append(out, Scored{Entry: c.entry, Confidence: math.Round(c.conf*1000) / 1000})
		}
	}
	return out
}
