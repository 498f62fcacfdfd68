package kb

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Problem is one thing wrong with the knowledge base, with where it is.
type Problem struct {
	File string
	ID   string
	Lang string
	Msg  string
}

func (p Problem) String() string {
	var where []string
	for _, s := range []string{p.File, p.ID, p.Lang} {
		if s != "" {
			where = append(where, s)
		}
	}
	return strings.Join(where, ": ") + ": " + p.Msg
}

var idPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// Check validates entries and returns every problem it finds, in file order: ids that are
// malformed or used twice, missing or empty languages, FAQ entries without a source or as-of
// date, answers whose figures differ between languages, questions asked twice and related ids
// that do not exist. No problems means the knowledge base can be served.
func Check(entries []*Entry) []Problem {
	var probs []Problem
	add := func(e *Entry, lang, format string, args ...any) {
		probs = append(probs, Problem{File: e.file, ID: e.ID, Lang: lang, Msg: fmt.Sprintf(format, args...)})
	}
	ids := map[string]*Entry{}
	questions := map[string]string{} // lang + normalized question -> id
	for _, e := range entries {
		switch {
		case e.ID == "":
			add(e, "", "entry without an id")
		case !idPattern.MatchString(e.ID):
			add(e, "", "id must be lowercase letters, digits and single dashes")
		case ids[e.ID] != nil:
			add(e, "", "duplicate id (also in %s)", ids[e.ID].file)
		default:
			ids[e.ID] = e
		}
		if !slices.Contains([]string{KindFAQ, KindSmalltalk, KindHandoff, KindOutOfScope}, e.Kind) {
			add(e, "", "unknown kind %q (want faq, smalltalk, handoff or out_of_scope)", e.Kind)
		}
		if e.Kind == KindFAQ {
			if e.Source == nil || strings.TrimSpace(e.Source.Speaker) == "" || strings.TrimSpace(e.Source.Outlet) == "" {
				add(e, "", "faq entry without source speaker and outlet")
			}
			if e.AsOf == "" {
				add(e, "", "faq entry without as_of date")
			} else if _, err := time.Parse(time.DateOnly, e.AsOf); err != nil {
				add(e, "", "as_of %q is not a date like 2024-08-19", e.AsOf)
			}
		}
		for _, lang := range Langs {
			t := e.Text[lang]
			switch {
			case t == nil:
				add(e, lang, "language missing")
				continue
			case t.Q == "":
				add(e, lang, "empty question")
			case t.A == "":
				add(e, lang, "empty answer")
			}
			for i, q := range t.Questions() {
				n := normalizeQuestion(q)
				if n == "" {
					if i > 0 {
						add(e, lang, "empty alternative question")
					}
					continue
				}
				key := lang + "\x00" + n
				if other, ok := questions[key]; ok {
					if other == e.ID {
						add(e, lang, "question %q appears twice in this entry", q)
					} else {
						add(e, lang, "question %q is also asked in entry %s", q, other)
					}
					continue
				}
				questions[key] = e.ID
			}
		}
		if ref := e.Text["en"]; ref != nil && ref.A != "" {
			want := Figures("en", ref.A)
			for _, lang := range Langs[:] {
				t := e.Text[lang]
				if lang == "en" || t == nil || t.A == "" {
					continue
				}
				if got := Figures(lang, t.A); !slices.Equal(got, want) {
					add(e, lang, "answer states figures %v, but the English answer states %v", got, want)
				}
			}
		}
	}
	for _, e := range entries {
		for _, r := range e.Related {
			if ids[r] == nil {
				add(e, "", "related id %q does not exist", r)
			} else if r == e.ID {
				add(e, "", "entry is related to itself")
			}
		}
	}
	return probs
}
