// Package kb is the knowledge base: the FAQ entries written from the briefing, their
// validation, the bleve index over them, and the engine that turns a question in any of the
// six UN languages into an answer or a decision to hand off to a person.
package kb

import (
	"slices"
	"strings"
)

// Langs are the six languages every entry is written in, in a stable order.
var Langs = []string{"zh", "en", "fr", "es", "ru", "ar"}

// ValidLang reports whether lang is one of Langs.
func ValidLang(lang string) bool { return slices.Contains(Langs, lang) }

// Kinds of entry.
const (
	KindFAQ       = "faq"       // a fact from the briefing, with a source and an as-of date
	KindSmalltalk = "smalltalk" // greetings, thanks, goodbye, "what can you do?"
	KindHandoff   = "handoff"   // the visitor asks for a person
	// KindOutOfScope entries describe what people ask that the briefing does not answer
	// (fees, processing times, other countries' visas, the weather...): matching one hands
	// the question to a person rather than answering it with the nearest FAQ.
	KindOutOfScope = "out_of_scope"
)

// Entry is one question and its answer in all six languages.
type Entry struct {
	ID      string           `yaml:"id" json:"id"`
	Kind    string           `yaml:"kind" json:"kind"`
	Source  *Source          `yaml:"source" json:"source,omitempty"`
	AsOf    string           `yaml:"as_of" json:"as_of,omitempty"`
	Related []string         `yaml:"related" json:"related,omitempty"`
	Text    map[string]*Text `yaml:"-" json:"text"`

	file string // where it was read from, for error messages
}

// Source says where an entry's facts come from.
type Source struct {
	Speaker string `yaml:"speaker" json:"speaker"`
	Outlet  string `yaml:"outlet" json:"outlet"`
	// Document names the briefing; it is the same for every entry and set by the loader.
	Document string `yaml:"-" json:"document"`
}

// Text is an entry in one language.
type Text struct {
	Q        string   `yaml:"q" json:"q"`
	Alt      []string `yaml:"alt" json:"alt,omitempty"`
	A        string   `yaml:"a" json:"a"`
	Keywords []string `yaml:"keywords" json:"keywords,omitempty"`
}

// Questions returns the canonical question followed by the alternative phrasings.
func (t *Text) Questions() []string {
	return append([]string{t.Q}, t.Alt...)
}

// BriefingName is the document every FAQ entry is written from.
const BriefingName = "SCIO press conference with the National Immigration Administration, 19 August 2024"

func normalizeQuestion(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimRight(s, "?？!！.。؟ ")
	return strings.Join(strings.Fields(s), " ")
}
