// Package locales holds every visible string of hotline in the six languages, as go-i18n
// message files (active.LANG.yaml), and the Catalog that renders them.
package locales

import (
	"embed"
	"fmt"
	"io/fs"
	"strings"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
	"gopkg.in/yaml.v3"
)

//go:embed active.*.yaml
var files embed.FS

// Langs are the languages the catalog must have, as the knowledge base names them.
var Langs = []string{"zh", "en", "fr", "es", "ru", "ar"}

// Catalog renders messages in any of Langs. It is safe for concurrent use.
type Catalog struct {
	bundle     *i18n.Bundle
	localizers map[string]*i18n.Localizer
	ids        []string // message ids of the English file, in file order
	raw        map[string]map[string]any
}

// Load reads the embedded message files.
func Load() (*Catalog, error) { return LoadFS(files) }

// LoadFS reads active.LANG.yaml files from fsys.
func LoadFS(fsys fs.FS) (*Catalog, error) {
	b := i18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("yaml", yaml.Unmarshal)
	c := &Catalog{bundle: b, localizers: map[string]*i18n.Localizer{}, raw: map[string]map[string]any{}}
	for _, lang := range Langs {
		name := "active." + lang + ".yaml"
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("locales: %w", err)
		}
		if _, err := b.ParseMessageFileBytes(data, name); err != nil {
			return nil, fmt.Errorf("locales: %s: %w", name, err)
		}
		var raw map[string]any
		if err := yaml.Unmarshal(data, &raw); err != nil {
			return nil, fmt.Errorf("locales: %s: %w", name, err)
		}
		for id, v := range raw {
			if m, ok := v.(map[string]any); ok {
				delete(m, "description")
			}
			raw[id] = v
		}
		c.raw[lang] = raw
		// Fall back to English only for a message missing in lang; the test makes sure none is.
		c.localizers[lang] = i18n.NewLocalizer(b, lang, "en")
		if lang == "en" {
			var m yaml.Node
			if err := yaml.Unmarshal(data, &m); err == nil && len(m.Content) > 0 {
				for i := 0; i+1 < len(m.Content[0].Content); i += 2 {
					c.ids = append(c.ids, m.Content[0].Content[i].Value)
				}
			}
		}
	}
	return c, nil
}

// IDs returns the id of every message, in the order of the English file.
func (c *Catalog) IDs() []string { return c.ids }

// T renders message id in lang with data as template data. An unknown lang renders English;
// an unknown id renders the id itself, so a missing string is visible rather than blank.
func (c *Catalog) T(lang, id string, data map[string]any) string {
	return c.render(lang, &i18n.LocalizeConfig{MessageID: id, TemplateData: data})
}

// N renders message id with the plural form lang uses for count; data may add fields
// beside Count.
func (c *Catalog) N(lang, id string, count int, data map[string]any) string {
	d := map[string]any{"Count": count}
	for k, v := range data {
		d[k] = v
	}
	return c.render(lang, &i18n.LocalizeConfig{MessageID: id, PluralCount: count, TemplateData: d})
}

func (c *Catalog) render(lang string, cfg *i18n.LocalizeConfig) string {
	l := c.localizers[lang]
	if l == nil {
		l = c.localizers["en"]
	}
	s, err := l.Localize(cfg)
	if err != nil || strings.TrimSpace(s) == "" {
		return cfg.MessageID
	}
	return s
}

// Templates returns every message of lang as written: a string, or for plural messages a map
// from CLDR plural category (zero, one, two, few, many, other) to string. Placeholders stay as
// {{.Name}}. It is what a client (the widget, the console) needs to show its own text.
func (c *Catalog) Templates(lang string) map[string]any {
	raw := c.raw[lang]
	if raw == nil {
		raw = c.raw["en"]
	}
	out := make(map[string]any, len(c.raw["en"]))
	for id, v := range c.raw["en"] {
		if lv, ok := raw[id]; ok {
			v = lv
		}
		out[id] = v
	}
	return out
}

// Dir returns the writing direction of lang: "rtl" for Arabic, "ltr" otherwise.
func Dir(lang string) string {
	if lang == "ar" {
		return "rtl"
	}
	return "ltr"
}
