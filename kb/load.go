package kb

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed data/*.yaml
var embedded embed.FS

// Embedded returns the knowledge base files compiled into the binary.
func Embedded() fs.FS {
	sub, err := fs.Sub(embedded, "data")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return sub
}

// Dir returns the knowledge base files of a directory, or the embedded ones when dir is empty.
func Dir(dir string) fs.FS {
	if dir == "" {
		return Embedded()
	}
	return os.DirFS(dir)
}

type fileEntries struct {
	Entries []rawEntry `yaml:"entries"`
}

type rawEntry struct {
	ID      string   `yaml:"id"`
	Kind    string   `yaml:"kind"`
	Source  *Source  `yaml:"source"`
	AsOf    string   `yaml:"as_of"`
	Related []string `yaml:"related"`
	ZH      *Text    `yaml:"zh"`
	EN      *Text    `yaml:"en"`
	FR      *Text    `yaml:"fr"`
	ES      *Text    `yaml:"es"`
	RU      *Text    `yaml:"ru"`
	AR      *Text    `yaml:"ar"`
}

// Load reads every *.yaml file at the top of fsys, in name order. It fails only when a file
// cannot be read or parsed; Check reports what is wrong with the entries themselves.
func Load(fsys fs.FS) ([]*Entry, error) {
	names, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("kb: no *.yaml files")
	}
	sort.Strings(names)
	var out []*Entry
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("kb: %w", err)
		}
		var f fileEntries
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&f); err != nil {
			return nil, fmt.Errorf("kb: %s: %w", name, err)
		}
		for _, r := range f.Entries {
			e := &Entry{
				ID:      strings.TrimSpace(r.ID),
				Kind:    r.Kind,
				Source:  r.Source,
				AsOf:    r.AsOf,
				Related: r.Related,
				Text:    map[string]*Text{},
				file:    path.Base(name),
			}
			if e.Kind == "" {
				e.Kind = KindFAQ
			}
			if e.Source != nil {
				e.Source.Document = BriefingName
			}
			for lang, t := range map[string]*Text{"zh": r.ZH, "en": r.EN, "fr": r.FR, "es": r.ES, "ru": r.RU, "ar": r.AR} {
				if t != nil {
					t.Q = strings.TrimSpace(t.Q)
					t.A = strings.TrimSpace(t.A)
					e.Text[lang] = t
				}
			}
			out = append(out, e)
		}
	}
	return out, nil
}
