package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/hotline12367/hotline/kb"
	"github.com/hotline12367/hotline/locales"
)

func runAsk(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ask", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: hotline ask [-lang xx] [-kb DIR] "question"`)
		fs.PrintDefaults()
	}
	lang := fs.String("lang", "", "answer in this language (zh en fr es ru ar, or a tag such as zh-TW); default: detect")
	dir := fs.String("kb", envDefault(getenv, "kb", ""), "knowledge base directory (default: the embedded files)")
	threshold := fs.Float64("threshold", kb.DefaultThreshold, "confidence under which the question goes to a person")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitError(2)
	}
	text := strings.TrimSpace(strings.Join(fs.Args(), " "))
	if text == "" {
		fs.Usage()
		return exitError(2)
	}
	engine, err := loadEngine(*dir, *threshold)
	if err != nil {
		return err
	}
	defer engine.Close()
	cat, err := locales.Load()
	if err != nil {
		return err
	}
	l := *lang
	if l == "auto" {
		l = ""
	}
	ans, err := engine.Ask(kb.Query{Text: text, Lang: l})
	if errors.Is(err, kb.ErrUnsupportedLang) {
		return fmt.Errorf("unsupported language %s: use one of %s", strconv.Quote(*lang), strings.Join(kb.Langs, " "))
	}
	if err != nil {
		return err
	}
	ans.Explain(cat)
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(ans)
}
