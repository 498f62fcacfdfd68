package kb

import (
	"math/big"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Figures returns the numbers an answer states, read with the conventions of its language
// (thousands and decimal separators, scale words such as "million", 万 or млн, month names),
// as canonical decimal strings, sorted and without repeats. It is how Check tells that the six
// translations of an answer state the same figures.
func Figures(lang, text string) []string {
	text = normalizeDigits(text)
	seen := map[string]bool{}
	for _, loc := range numberPattern(lang).FindAllStringIndex(text, -1) {
		r, ok := parseNumber(lang, text[loc[0]:loc[1]])
		if !ok {
			continue
		}
		if m := scaleAfter(lang, text[loc[1]:]); m != nil {
			r.Mul(r, m)
		}
		seen[ratString(r)] = true
	}
	for _, m := range monthsIn(lang, text) {
		seen[m] = true
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

func normalizeDigits(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= '٠' && r <= '٩':
			return '0' + (r - '٠')
		case r >= '۰' && r <= '۹':
			return '0' + (r - '۰')
		case r == '٫':
			return '.'
		case r == '٬':
			return ','
		case r == '\u00a0' || r == '\u202f' || r == '\u2009':
			return ' '
		}
		return r
	}, s)
}

var (
	// Digits never glued to letters of a word ("B2" is a name, not a figure).
	numDotDecimal   = regexp.MustCompile(`\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?`)
	numCommaDecimal = regexp.MustCompile(`\d{1,3}(?: \d{3})+(?:,\d+)?|\d+(?:[,.]\d+)?`)
	numSpanish      = regexp.MustCompile(`\d{1,3}(?:[. ]\d{3})+(?:,\d+)?|\d+(?:,\d+)?`)
)

func numberPattern(lang string) *regexp.Regexp {
	switch lang {
	case "fr", "ru":
		return numCommaDecimal
	case "es":
		return numSpanish
	}
	return numDotDecimal
}

func parseNumber(lang, s string) (*big.Rat, bool) {
	switch lang {
	case "fr", "ru":
		s = strings.ReplaceAll(s, " ", "")
		s = strings.Replace(s, ",", ".", 1)
	case "es":
		s = strings.ReplaceAll(s, " ", "")
		s = strings.ReplaceAll(s, ".", "")
		s = strings.Replace(s, ",", ".", 1)
	default:
		s = strings.ReplaceAll(s, ",", "")
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

func ratString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	return strings.TrimRight(strings.TrimRight(r.FloatString(6), "0"), ".")
}

type scaleWord struct {
	word  string
	scale int64
}

// scaleWords lists, per language, the words that multiply the number before them; longer
// words first, so that "mil millones" wins over "mil" and "milliard" over "mille".
var scaleWords = map[string][]scaleWord{
	"en": {{"thousand", 1e3}, {"million", 1e6}, {"billion", 1e9}},
	"zh": {{"千", 1e3}, {"万", 1e4}, {"萬", 1e4}, {"亿", 1e8}, {"億", 1e8}},
	"fr": {{"milliard", 1e9}, {"million", 1e6}, {"mille", 1e3}},
	"es": {{"mil millones", 1e9}, {"millón", 1e6}, {"millon", 1e6}, {"mil", 1e3}},
	"ru": {{"млрд", 1e9}, {"миллиард", 1e9}, {"млн", 1e6}, {"миллион", 1e6}, {"тыс", 1e3}, {"тысяч", 1e3}},
	"ar": {{"مليارات", 1e9}, {"مليار", 1e9}, {"ملايين", 1e6}, {"مليون", 1e6}, {"آلاف", 1e3}, {"ألف", 1e3}},
}

func scaleAfter(lang, rest string) *big.Rat {
	rest = strings.TrimLeft(rest, " ")
	lower := strings.ToLower(rest)
	for _, w := range scaleWords[lang] {
		if !strings.HasPrefix(lower, w.word) {
			continue
		}
		// A scale word must end the word or continue as its own inflection (millions,
		// миллионов), never be the start of another word ("mil" in "militar").
		next, _ := utf8.DecodeRuneInString(lower[len(w.word):])
		if lang == "es" && w.word == "mil" && next != utf8.RuneError && isLetter(next) {
			continue
		}
		return new(big.Rat).SetInt64(w.scale)
	}
	return nil
}

func isLetter(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 0xC0 && r <= 0x24F
}

// months lists stems of the month names, January first.
var months = map[string][12]string{
	"en": {"january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"},
	"fr": {"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"},
	"es": {"enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"},
	"ru": {"январ", "феврал", "март", "апрел", "ма[йяе]", "июн", "июл", "август", "сентябр", "октябр", "ноябр", "декабр"},
	"ar": {"يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس", "سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر"},
}

// monthsIn returns the numbers of the months a text names as words. Chinese writes months
// with digits (7月), which the number pattern already reads.
func monthsIn(lang, text string) []string {
	var out []string
	lower := strings.ToLower(text)
	names, ok := months[lang]
	if !ok {
		return nil
	}
	for i, name := range names {
		if containsMonth(lang, lower, name) {
			out = append(out, big.NewInt(int64(i+1)).String())
		}
	}
	return out
}

// containsMonth reports whether the month name stands in text as a word: for Russian as the
// start of one (июля, июле), elsewhere whole. English "may" counts only beside a digit,
// since it is also a verb.
func containsMonth(lang, text, name string) bool {
	if lang == "ru" && name == "ма[йяе]" {
		return containsMonth(lang, text, "май") || containsMonth(lang, text, "мая") || containsMonth(lang, text, "мае")
	}
	for from := 0; ; {
		i := strings.Index(text[from:], name)
		if i < 0 {
			return false
		}
		i += from
		end := i + len(name)
		from = end
		before, _ := utf8.DecodeLastRuneInString(text[:i])
		if i > 0 && unicode.IsLetter(before) {
			continue
		}
		after, _ := utf8.DecodeRuneInString(text[end:])
		if lang != "ru" && end < len(text) && unicode.IsLetter(after) {
			continue
		}
		if lang == "en" && name == "may" && !digitNear(text, i, end) {
			continue
		}
		return true
	}
}

func digitNear(text string, start, end int) bool {
	rest := strings.TrimLeft(text[end:], " ")
	head := strings.TrimRight(text[:start], " ")
	return rest != "" && rest[0] >= '0' && rest[0] <= '9' || head != "" && head[len(head)-1] >= '0' && head[len(head)-1] <= '9'
}
