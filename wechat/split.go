package wechat

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// SplitText cuts text into parts of at most limit bytes of UTF-8 each (limit
// is raised to 4 if smaller), for messages with a length limit. It cuts after
// the last paragraph break, else line break, else sentence end (。！？ or . ! ?
// followed by a space), else space or comma, as long as that leaves the part
// at least half full; failing all of those, at the last rune boundary, so a
// UTF-8 sequence is never split. White space at the cuts is dropped, and so
// are parts left empty: SplitText of blank text returns no parts.
func SplitText(text string, limit int) []string {
	limit = max(limit, utf8.UTFMax)
	var parts []string
	for {
		text = strings.TrimLeftFunc(text, unicode.IsSpace)
		if text == "" {
			return parts
		}
		if len(text) <= limit {
			return append(parts, strings.TrimRightFunc(text, unicode.IsSpace))
		}
		cut := cutPoint(text, runeFloor(text, limit))
		if p := strings.TrimRightFunc(text[:cut], unicode.IsSpace); p != "" {
			parts = append(parts, p)
		}
		text = text[cut:]
	}
}

// runeFloor returns the largest n <= limit at which s, longer than limit,
// can be cut without splitting a UTF-8 sequence. In invalid UTF-8 with no
// sequence start near limit it returns limit. n > 0 when limit >= 4.
func runeFloor(s string, limit int) int {
	for n := limit; n > limit-utf8.UTFMax && n > 0; n-- {
		if utf8.RuneStart(s[n]) {
			return n
		}
	}
	return limit
}

// cutPoint returns where in text to end a part of at most limit bytes,
// following SplitText's preferences. limit is a rune boundary of text.
func cutPoint(text string, limit int) int {
	window := text[:limit]
	half := max(limit/2, 1) // a part is never empty
	if i := strings.LastIndex(window, "\n\n"); i >= half {
		return i + 2
	}
	if i := strings.LastIndexByte(window, '\n'); i >= half {
		return i + 1
	}
	var word int
	for i := limit; i >= half; {
		r, size := utf8.DecodeLastRuneInString(text[:i])
		next, _ := utf8.DecodeRuneInString(text[i:])
		switch {
		case sentenceEnd(r, next):
			return i
		case word == 0 && wordEnd(r):
			word = i
		}
		i -= size
	}
	if word > 0 {
		return word
	}
	return limit
}

// sentenceEnd reports whether r, followed by next, ends a sentence.
func sentenceEnd(r, next rune) bool {
	switch r {
	case '。', '！', '？', '；', '…':
		return true
	case '.', '!', '?', ';':
		return unicode.IsSpace(next)
	}
	return false
}

// wordEnd reports whether a part may end after r.
func wordEnd(r rune) bool {
	switch r {
	case ',', '，', '、', ':', '：':
		return true
	}
	return unicode.IsSpace(r)
}
