package kb

import (
	"math"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// detector tells which of the six languages a text is written in. Chinese, Russian and
// Arabic have scripts of their own; English, French and Spanish share the Latin script and are
// told apart by a naive Bayes model over words, trained on the knowledge base itself and on
// each language's commonest words, plus the letters only one of them uses.
type detector struct {
	latin map[string]*wordModel // en, fr, es
}

type wordModel struct {
	counts map[string]float64
	total  float64
}

var latinLangs = []string{"en", "fr", "es"}

// commonWords are the function words people type in questions, whatever the topic.
var commonWords = map[string]string{
	"en": "the a an is are am was be can could do does did i you my me we your it to of in on for with from how what when where which who why will would should need have has not no yes please hello hi thanks thank about there this that and or if get long much many",
	"fr": "le la les un une des du de est sont je tu vous nous mon ma mes votre vos il elle ce cette ces qui que quoi quand comment où pourquoi combien est-ce puis peux peut pouvez dois faut avoir être pas ne oui non merci bonjour salut avec pour dans sur au aux et ou si quel quelle quels",
	"es": "el la los las un una unos unas es son soy estoy yo tu usted ustedes mi mis su sus nosotros que qué cuando cuándo como cómo donde dónde por porque cuánto cuántos cuál puedo puede pueden debo necesito tengo hay no sí gracias hola con para en y o si del al",
}

// diacritics are letters that mark one Latin language.
var diacritics = map[string]string{
	"fr": "àâçèêëîïôûùœ",
	"es": "ñáíóú¿¡",
}

func newDetector(entries []*Entry) *detector {
	d := &detector{latin: map[string]*wordModel{}}
	for _, lang := range latinLangs {
		m := &wordModel{counts: map[string]float64{}}
		for _, w := range strings.Fields(commonWords[lang]) {
			m.add(w, 5)
		}
		for _, e := range entries {
			t := e.Text[lang]
			if t == nil {
				continue
			}
			for _, s := range append(append(t.Questions(), t.A), t.Keywords...) {
				for _, w := range words(s) {
					m.add(w, 1)
				}
			}
		}
		d.latin[lang] = m
	}
	return d
}

func (m *wordModel) add(w string, n float64) {
	w = fold(w)
	m.counts[w] += n
	m.total += n
}

func (m *wordModel) logp(w string) float64 {
	const alpha = 0.1
	return math.Log((m.counts[w] + alpha) / (m.total + alpha*50000))
}

// words splits text into lowercase words.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && r != '\''
	})
}

// fold removes accents, so that a question typed without them still reads as its language.
func fold(s string) string {
	for _, r := range s {
		if r >= 0x80 {
			return strings.Map(func(r rune) rune {
				if unicode.Is(unicode.Mn, r) {
					return -1
				}
				return r
			}, norm.NFD.String(s))
		}
	}
	return s
}

// Detection is what detect found.
type Detection struct {
	Lang string
	// Sure is false when the text gives too little to tell (one shared word, only digits):
	// the caller's hint should win then.
	Sure bool
}

// detect returns the language of text. It returns an empty Lang when the text is in no
// supported script (Korean, Thai, Hindi, ...).
func (d *detector) detect(text string) Detection {
	var han, arabic, cyrillic, latin, other int
	for _, r := range text {
		switch {
		case unicode.Is(unicode.Han, r):
			han++
		case unicode.Is(unicode.Arabic, r):
			arabic++
		case unicode.Is(unicode.Cyrillic, r):
			cyrillic++
		case unicode.Is(unicode.Latin, r):
			latin++
		case unicode.IsLetter(r):
			other++
		}
	}
	// A Chinese character carries about as much as a Latin word: weigh it like three letters.
	best, n := "", 0
	for _, c := range []struct {
		lang string
		n    int
	}{{"zh", han * 3}, {"ar", arabic}, {"ru", cyrillic}, {"latin", latin}, {"", other}} {
		if c.n > n {
			best, n = c.lang, c.n
		}
	}
	switch best {
	case "":
		return Detection{}
	case "latin":
		return d.detectLatin(text)
	}
	return Detection{Lang: best, Sure: true}
}

func (d *detector) detectLatin(text string) Detection {
	ws := words(text)
	scores := map[string]float64{}
	for _, lang := range latinLangs {
		m := d.latin[lang]
		var s float64
		for _, w := range ws {
			s += m.logp(fold(w))
		}
		for _, r := range strings.ToLower(text) {
			if strings.ContainsRune(diacritics[lang], r) {
				s += 3
			}
		}
		scores[lang] = s
	}
	best, second := "", ""
	for _, lang := range latinLangs {
		switch {
		case best == "" || scores[lang] > scores[best]:
			best, second = lang, best
		case second == "" || scores[lang] > scores[second]:
			second = lang
		}
	}
	// A margin of about two words' worth of evidence makes the call.
	return Detection{Lang: best, Sure: len(ws) > 0 && scores[best]-scores[second] >= 2.5}
}
