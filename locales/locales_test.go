package locales

import (
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"testing"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
	"gopkg.in/yaml.v3"
)

var pluralKeys = []string{"zero", "one", "two", "few", "many", "other"}

// requiredForms returns the CLDR plural categories lang uses for whole numbers.
func requiredForms(lang string) []string {
	tag := language.MustParse(lang)
	names := map[plural.Form]string{plural.Zero: "zero", plural.One: "one", plural.Two: "two",
		plural.Few: "few", plural.Many: "many", plural.Other: "other"}
	seen := map[string]bool{}
	for _, n := range []int{0, 1, 2, 3, 5, 11, 21, 100, 101, 111, 1000, 1000000} {
		// i: integer digits, v: no fraction digits.
		seen[names[plural.Cardinal.MatchPlural(tag, n, 0, 0, 0, 0)]] = true
	}
	var out []string
	for _, k := range pluralKeys {
		if seen[k] {
			out = append(out, k)
		}
	}
	return out
}

func readMessages(t *testing.T, lang string) map[string]any {
	t.Helper()
	b, err := fs.ReadFile(files, "active."+lang+".yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", lang, err)
	}
	return m
}

// TestEveryMessageInEveryLanguage fails when a message is missing in a language, is empty, or
// lacks a plural form the language needs (Russian: one, few, many; Arabic: zero to many).
func TestEveryMessageInEveryLanguage(t *testing.T) {
	en := readMessages(t, "en")
	for _, lang := range Langs {
		t.Run(lang, func(t *testing.T) {
			msgs := readMessages(t, lang)
			forms := requiredForms(lang)
			for id, enMsg := range en {
				got, ok := msgs[id]
				if !ok {
					t.Errorf("%s: missing", id)
					continue
				}
				switch enMsg.(type) {
				case string:
					s, ok := got.(string)
					if !ok || strings.TrimSpace(s) == "" {
						t.Errorf("%s: got %v, want a non-empty string", id, got)
					}
				case map[string]any:
					pm, ok := got.(map[string]any)
					if !ok {
						t.Errorf("%s: got %v, want plural forms", id, got)
						continue
					}
					for _, f := range forms {
						if s, _ := pm[f].(string); strings.TrimSpace(s) == "" {
							t.Errorf("%s: plural form %q missing (the language needs %v)", id, f, forms)
						}
					}
				}
			}
			for id := range msgs {
				if _, ok := en[id]; !ok {
					t.Errorf("%s: not in the English file", id)
				}
			}
		})
	}
}

func TestPluralForms(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		lang  string
		count int
		want  string
	}{
		{"en", 1, "1 minute."},
		{"en", 5, "5 minutes."},
		{"ru", 1, "1 минут"},
		{"ru", 3, "3 минуты"},
		{"ru", 5, "5 минут"},
		{"ru", 21, "21 минут"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.lang, tt.count), func(t *testing.T) {
			got := c.N(tt.lang, "QueueWait", tt.count, nil)
			if !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want it to contain %q", got, tt.want)
			}
		})
	}
	// Arabic uses a different form for 1, 2, 3-10 and 11-99.
	ar := map[string]bool{}
	for _, n := range []int{1, 2, 3, 11, 100} {
		ar[c.N("ar", "QueueWait", n, nil)] = true
	}
	if len(ar) < 4 {
		t.Errorf("Arabic QueueWait: got %d distinct renderings for 1, 2, 3, 11, 100, want at least 4", len(ar))
	}
}

func TestRequiredForms(t *testing.T) {
	for lang, want := range map[string][]string{"ru": {"one", "few", "many"}, "ar": {"zero", "one", "two", "few", "many"}} {
		got := requiredForms(lang)
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("%s: got %v, want it to contain %s", lang, got, w)
			}
		}
	}
}

func TestIDsInOrder(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	en := readMessages(t, "en")
	got := slices.Clone(c.IDs())
	sort.Strings(got)
	var want []string
	for id := range en {
		want = append(want, id)
	}
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
