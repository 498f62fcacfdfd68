package kb

import (
	"strings"
	"sync"
	"unicode"

	"github.com/longbridgeapp/opencc"
	"golang.org/x/text/language"
)

// Supported tags, in the order of Langs.
var supportedTags = []language.Tag{
	language.Chinese, language.English, language.French,
	language.Spanish, language.Russian, language.Arabic,
}

var langMatcher = language.NewMatcher(supportedTags)

// Pref is a language preference: one of Langs, and for Chinese the script and region to
// write in ("Hant" for traditional characters, with "TW" or "HK" choosing the variant).
type Pref struct {
	Lang   string `json:"lang"`
	Script string `json:"script,omitempty"`
	Region string `json:"region,omitempty"`
}

// Traditional reports whether answers should be written in traditional Chinese.
func (p Pref) Traditional() bool { return p.Lang == "zh" && p.Script == "Hant" }

// ParseLang maps a BCP 47 tag or an Accept-Language value ("zh-TW", "fr-CA",
// "ar-EG,ar;q=0.9,en;q=0.5") to the supported language it best matches. It reports false
// when the value names no supported language.
func ParseLang(s string) (Pref, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Pref{}, false
	}
	tags, _, err := language.ParseAcceptLanguage(s)
	if err != nil || len(tags) == 0 {
		return Pref{}, false
	}
	_, i, conf := langMatcher.Match(tags...)
	if conf == language.No {
		return Pref{}, false
	}
	p := Pref{Lang: Langs[i]}
	if p.Lang == "zh" {
		// The first Chinese tag decides the script: zh-TW, zh-HK and zh-Hant mean traditional.
		for _, t := range tags {
			if base, _ := t.Base(); base.String() != "zh" {
				continue
			}
			script, _ := t.Script()
			region, _ := t.Region()
			if script.String() == "Hant" {
				p.Script = "Hant"
				switch region.String() {
				case "HK", "MO":
					p.Region = "HK"
				default:
					p.Region = "TW"
				}
			}
			break
		}
	}
	return p, true
}

// hanConv converts between simplified and traditional Chinese. The dictionaries load on first
// use, so a server that never sees traditional characters never pays for them.
type hanConv struct {
	once         sync.Once
	t2s          *opencc.OpenCC
	s2tw, s2hk   *opencc.OpenCC
	err          error
	onceT, onceH sync.Once
}

var han hanConv

func (h *hanConv) toSimplified(s string) string {
	h.once.Do(func() { h.t2s, h.err = opencc.New("t2s") })
	if h.t2s == nil {
		return s
	}
	out, err := h.t2s.Convert(s)
	if err != nil {
		return s
	}
	return out
}

func (h *hanConv) toTraditional(s, region string) string {
	var c *opencc.OpenCC
	if region == "HK" {
		h.onceH.Do(func() { h.s2hk, _ = opencc.New("s2hk") })
		c = h.s2hk
	} else {
		h.onceT.Do(func() { h.s2tw, _ = opencc.New("s2tw") })
		c = h.s2tw
	}
	if c == nil {
		return s
	}
	out, err := c.Convert(s)
	if err != nil {
		return s
	}
	// Characters with two traditional forms, where the dictionaries sometimes pick the one
	// that never fits immigration answers: 发 is 發 (issue) not 髮 (hair) in 换发; 签 is 簽
	// (visa, sign) not 籤 (lot, tag) in 免签.
	return traditionalFixes.Replace(out)
}

var traditionalFixes = strings.NewReplacer("髮", "發", "籤", "簽")

// simplifyScript returns the text in simplified characters and the script it was written in:
// "Hant" or "Hans" when some of its characters belong to one script only, "" when all of them
// are the same in both.
func simplifyScript(s string) (string, string) {
	simp, trad := simplify(s)
	switch {
	case trad:
		return simp, "Hant"
	case han.toTraditional(s, "") != s:
		return simp, "Hans"
	}
	return simp, ""
}

// ToTraditional writes simplified Chinese text in traditional characters, with Hong Kong
// ("HK") or Taiwan (any other region) conventions.
func ToTraditional(s, region string) string { return han.toTraditional(s, region) }

// simplify returns the text in simplified characters and whether it was written in
// traditional ones: more of its characters change from traditional to simplified than the
// other way round.
func simplify(s string) (string, bool) {
	hasHan := false
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			hasHan = true
			break
		}
	}
	if !hasHan {
		return s, false
	}
	simp := han.toSimplified(s)
	if simp == s {
		return s, false
	}
	changed := 0
	a, b := []rune(s), []rune(simp)
	if len(a) != len(b) {
		return simp, true
	}
	for i := range a {
		if a[i] != b[i] {
			changed++
		}
	}
	return simp, changed > 0
}
