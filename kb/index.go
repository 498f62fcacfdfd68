package kb

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	stdunicode "unicode"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/lang/ar"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/cjk"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/analysis/lang/es"
	"github.com/blevesearch/bleve/v2/analysis/lang/fr"
	"github.com/blevesearch/bleve/v2/analysis/lang/ru"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/token/porter"
	"github.com/blevesearch/bleve/v2/analysis/token/stop"
	"github.com/blevesearch/bleve/v2/analysis/token/unicodenorm"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/analysis/tokenmap"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search/query"
	"golang.org/x/sync/errgroup"
)

// analyzerFor names the bleve analyzer of each language: overlapping bigrams for Chinese; for
// the others bleve's own chain (stemming, stop words), with the negations kept (see
// addAnalyzers).
var analyzerFor = map[string]string{"zh": "cjk", "en": "en_kept", "fr": "fr_kept", "es": "es_kept", "ru": "ru_kept", "ar": "ar_kept"}

// keptWords are stop words that matter here: "sin visado", "sans visa", "без визы" and
// "بدون تأشيرة" mean visa-free, and must not read as "visa".
var keptWords = map[string][]string{
	"en": {"no", "not", "without"},
	"es": {"sin", "no"},
	"fr": {"sans", "pas", "ne", "non"},
	"ru": {"без", "не", "нет"},
	"ar": {"لا", "بدون", "دون", "غير"},
}

// addAnalyzers registers, for each alphabetic language, bleve's analyzer rebuilt with a stop
// list that keeps keptWords.
func addAnalyzers(m *mapping.IndexMappingImpl) error {
	stopLists := map[string][]byte{"en": en.EnglishStopWords, "es": es.SpanishStopWords, "fr": fr.FrenchStopWords,
		"ru": ru.RussianStopWords, "ar": ar.ArabicStopWords}
	chains := map[string][]string{
		"en": {en.PossessiveName, lowercase.Name, "stop_kept_en", porter.Name},
		"es": {lowercase.Name, "stop_kept_es", es.NormalizeName, es.LightStemmerName},
		"fr": {lowercase.Name, fr.ElisionName, "stop_kept_fr", fr.LightStemmerName},
		"ru": {lowercase.Name, "stop_kept_ru", ru.SnowballStemmerName},
		"ar": {lowercase.Name, "nfkc", "stop_kept_ar", ar.NormalizeName, ar.StemmerName},
	}
	if err := m.AddCustomTokenFilter("nfkc", map[string]any{"type": unicodenorm.Name, "form": unicodenorm.NFKC}); err != nil {
		return err
	}
	for lang, words := range stopLists {
		tm := analysis.NewTokenMap()
		if err := tm.LoadBytes(words); err != nil {
			return err
		}
		for _, k := range keptWords[lang] {
			delete(tm, k)
		}
		tokens := make([]any, 0, len(tm))
		for t := range tm {
			tokens = append(tokens, t)
		}
		name := "stop_kept_" + lang
		if err := m.AddCustomTokenMap(name, map[string]any{"type": tokenmap.Name, "tokens": tokens}); err != nil {
			return err
		}
		if err := m.AddCustomTokenFilter(name, map[string]any{"type": stop.Name, "stop_token_map": name}); err != nil {
			return err
		}
		filters := make([]any, 0, len(chains[lang]))
		for _, f := range chains[lang] {
			filters = append(filters, f)
		}
		if err := m.AddCustomAnalyzer(analyzerFor[lang], map[string]any{"type": custom.Name,
			"tokenizer": unicode.Name, "token_filters": filters}); err != nil {
			return err
		}
	}
	return nil
}

// field names the one text field of each language: questions, keywords and answer together.
// bleve only retrieves candidates; match weighs questions above answers itself.
func field(lang string) string { return "t_" + lang }

// strength is how much a matching term in each field says that an entry is the right one.
const (
	strengthQuestion = 1.0
	strengthAnswer   = 0.6
	strengthFuzzy    = 0.8 // multiplier for a term matched through a typo correction
)

// vocab is what the index knows of one language: for every entry the terms of its questions
// and answer, and for every term in how many entries it occurs.
type vocab struct {
	lang     string
	analyzer analysis.Analyzer
	entries  []*Entry
	terms    []map[string]float64 // parallel to entries: term -> strength
	phrases  [][][]string         // parallel to entries: the terms of each question phrasing
	df       map[string]int       // term -> number of entries with it
	idf      map[string]float64   // term -> its weight, from df (see match)
	unknown  float64              // the weight of a term no entry has
	phraseW  [][]float64          // parallel to phrases: the total weight of each phrasing
	social   map[string]bool      // terms found only in small-talk and handoff entries
	filler   map[string]bool      // conversational words that say nothing of the topic
	deletes  map[string][]string  // one-letter deletion -> terms, for typo correction
}

// buildIndex indexes every entry in every language into an in-memory scorch index (the
// faster of bleve's two index types) and builds the per-language vocabularies.
func buildIndex(entries []*Entry) (bleve.Index, map[string]*vocab, error) {
	m := bleve.NewIndexMapping()
	if err := addAnalyzers(m); err != nil {
		return nil, nil, fmt.Errorf("kb: analyzers: %w", err)
	}
	m.StoreDynamic = false
	m.IndexDynamic = false
	m.DocValuesDynamic = false
	doc := bleve.NewDocumentStaticMapping()
	for _, lang := range Langs {
		fm := bleve.NewTextFieldMapping()
		fm.Analyzer = analyzerFor[lang]
		fm.Store = false
		fm.IncludeInAll = false
		fm.IncludeTermVectors = false
		fm.DocValues = false
		doc.AddFieldMappingsAt(field(lang), fm)
	}
	m.DefaultMapping = doc
	idx, err := bleve.NewUsing("", m, scorch.Name, scorch.Name, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("kb: new index: %w", err)
	}
	// The vocabularies are built while bleve indexes: both analyze every text, and start-up
	// waits for the slower of the two rather than for their sum.
	vocabs := make(map[string]*vocab, len(Langs))
	var mu sync.Mutex
	var g errgroup.Group
	for _, lang := range Langs {
		g.Go(func() error {
			v, err := newVocab(m, lang, entries)
			if err != nil {
				return err
			}
			mu.Lock()
			vocabs[lang] = v
			mu.Unlock()
			return nil
		})
	}
	b := idx.NewBatch()
	for _, e := range entries {
		for _, lang := range Langs {
			t := e.Text[lang]
			if t == nil {
				continue
			}
			texts := append(append(t.Questions(), t.Keywords...), t.A)
			if lang == "zh" {
				texts = simplifyAll(texts)
			}
			for i := range texts {
				texts[i] = unifyVariants(lang, texts[i])
			}
			if err := b.Index(lang+"/"+e.ID, map[string]any{field(lang): texts}); err != nil {
				return nil, nil, fmt.Errorf("kb: index %s: %w", e.ID, err)
			}
		}
	}
	if err := idx.Batch(b); err != nil {
		return nil, nil, fmt.Errorf("kb: index: %w", err)
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	return idx, vocabs, nil
}

func newVocab(m mapping.IndexMapping, lang string, entries []*Entry) (*vocab, error) {
	an := m.AnalyzerNamed(analyzerFor[lang])
	if an == nil {
		return nil, fmt.Errorf("kb: no analyzer %q", analyzerFor[lang])
	}
	v := &vocab{
		lang: lang, analyzer: an, entries: entries,
		df: map[string]int{}, social: map[string]bool{}, filler: map[string]bool{},
		deletes: map[string][]string{},
	}
	for _, tok := range v.analyze(fillers[lang]) {
		v.filler[tok.term] = true
	}
	inFAQ := map[string]bool{}
	for _, e := range entries {
		terms := map[string]float64{}
		if t := e.Text[lang]; t != nil {
			qs := append(t.Questions(), t.Keywords...)
			if lang == "zh" {
				// Editors may write a phrasing in traditional characters; questions are
				// matched in simplified ones.
				qs = simplifyAll(qs)
			}
			var phrases [][]string
			for i, s := range qs {
				var ph []string
				for _, tok := range v.analyze(s) {
					terms[tok.term] = strengthQuestion
					if !v.filler[tok.term] && !slices.Contains(ph, tok.term) {
						ph = append(ph, tok.term)
					}
				}
				if i < len(t.Questions()) && len(ph) > 0 {
					phrases = append(phrases, ph)
				}
			}
			v.phrases = append(v.phrases, phrases)
			for _, tok := range v.analyze(t.A) {
				if terms[tok.term] == 0 {
					terms[tok.term] = strengthAnswer
				}
			}
		}
		if len(v.phrases) < len(v.terms)+1 {
			v.phrases = append(v.phrases, nil)
		}
		v.terms = append(v.terms, terms)
		for term := range terms {
			v.df[term]++
			if e.Kind == KindFAQ || e.Kind == KindOutOfScope {
				inFAQ[term] = true
			}
		}
	}
	v.idf = make(map[string]float64, len(v.df))
	for term, df := range v.df {
		v.idf[term] = idfWeight(len(entries), df)
	}
	v.unknown = idfWeight(len(entries), 0)
	for _, phrases := range v.phrases {
		ws := make([]float64, len(phrases))
		for i, ph := range phrases {
			for _, term := range ph {
				ws[i] += v.idf[term]
			}
		}
		v.phraseW = append(v.phraseW, ws)
	}
	for term := range v.df {
		if !inFAQ[term] {
			v.social[term] = true
		}
		if utf8.RuneCountInString(term) >= 4 && !isCJK(term) {
			for _, d := range deletions(term) {
				v.deletes[d] = append(v.deletes[d], term)
			}
		}
	}
	return v, nil
}

type token struct {
	term       string
	start, end int
}

func (v *vocab) analyze(s string) []token {
	ts := v.analyzer.Analyze([]byte(unifyVariants(v.lang, s)))
	out := make([]token, 0, len(ts))
	for _, t := range ts {
		out = append(out, token{term: string(t.Term), start: t.Start, end: t.End})
	}
	return out
}

// deletions returns the term with each one of its letters removed.
func deletions(term string) []string {
	rs := []rune(term)
	out := make([]string, 0, len(rs))
	for i := range rs {
		out = append(out, string(rs[:i])+string(rs[i+1:]))
	}
	return out
}

// correct maps a term the knowledge base does not know to the known term it most likely
// misspells (one letter added, dropped, changed or two swapped), preferring the most
// frequent. It returns "" when there is none.
func (v *vocab) correct(term string) string {
	if utf8.RuneCountInString(term) < 4 || isCJK(term) {
		return ""
	}
	cands := map[string]bool{}
	for _, t := range v.deletes[term] { // a letter added by the typist
		cands[t] = true
	}
	for _, d := range deletions(term) {
		if v.df[d] > 0 { // a letter dropped
			cands[d] = true
		}
		for _, t := range v.deletes[d] { // a letter changed or two swapped
			cands[t] = true
		}
	}
	best := ""
	for c := range cands {
		if best == "" || v.df[c] > v.df[best] || v.df[c] == v.df[best] && c < best {
			best = c
		}
	}
	return best
}

func isCJK(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return r >= 0x2E80
}

// search asks the bleve index for the entries of one language whose fields share terms with
// the query, best first.
func search(idx bleve.Index, lang string, terms []string, size int) ([]hit, error) {
	if len(terms) == 0 {
		return nil, nil
	}
	qs := make([]query.Query, 0, len(terms))
	for _, term := range terms {
		tq := bleve.NewTermQuery(term)
		tq.SetField(field(lang))
		qs = append(qs, tq)
	}
	req := bleve.NewSearchRequestOptions(bleve.NewDisjunctionQuery(qs...), size, 0, false)
	res, err := idx.Search(req)
	if err != nil {
		return nil, fmt.Errorf("kb: search: %w", err)
	}
	out := make([]hit, 0, len(res.Hits))
	for _, h := range res.Hits {
		id := strings.TrimPrefix(h.ID, lang+"/")
		out = append(out, hit{id: id, score: h.Score})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].score > out[j].score })
	return out, nil
}

type hit struct {
	id    string
	score float64
}

// fillers are the words people wrap a question in ("please tell me", "请问", "хотел бы
// узнать") that say nothing about what they ask; they neither help nor hurt a match.
var fillers = map[string]string{
	"en": "please tell me know want would like wondering curious information info question ask explain could someone anyone kindly get find out understand details detail",
	"fr": "svp plaît voudrais voudrait veux savoir dire expliquer question information informations renseignement renseignements besoin comprendre détails",
	"es": "favor quiero quisiera saber decir explicar pregunta información informacion necesito entender detalles",
	"ru": "пожалуйста хочу хотел хотела узнать скажите подскажите расскажите объясните вопрос информация информацию понять подробнее",
	"ar": "من فضلك لو سمحت أريد أود اعرف أعرف معرفة أخبرني اشرح سؤال معلومات أفهم تفاصيل",
	"zh": "请问 我想 想问 问一下 一下 想知道 知道 了解 告诉 怎么 什么 如何 可以 吗 呢 的 是 请 我 能 是不是 有没有 一个 哪些 多少 麻烦 帮我 咨询 问题 情况 相关",
}

func simplifyAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i], _ = simplify(s)
	}
	return out
}

// idfWeight is what a term found in df of n entries tells about a question: rare terms say
// what it is about, common ones little.
func idfWeight(n, df int) float64 {
	return math.Pow(math.Log(1+float64(n)/(float64(df)+0.5)), idfPower)
}

// weight returns the weight of a known term, or of an unknown one.
func (v *vocab) weight(term string) float64 {
	if w, ok := v.idf[term]; ok {
		return w
	}
	return v.unknown
}

// variants are words one region writes differently from another, mapped to the form the
// knowledge base is indexed under: Latin America's "visa" is Spain's "visado".
var variants = map[string]map[string]string{
	"es": {"visa": "visado", "visas": "visados"},
}

// unifyVariants rewrites the regional variants of a text's words; the index and every query go
// through it, so either form finds the other.
func unifyVariants(lang, s string) string {
	vs := variants[lang]
	if vs == nil {
		return s
	}
	var b strings.Builder
	start := -1
	flush := func(end int) {
		w := s[start:end]
		if r, ok := vs[strings.ToLower(w)]; ok {
			w = r
		}
		b.WriteString(w)
		start = -1
	}
	for i, r := range s {
		if stdunicode.IsLetter(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			flush(i)
		}
		b.WriteRune(r)
	}
	if start >= 0 {
		flush(len(s))
	}
	return b.String()
}
