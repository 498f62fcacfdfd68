package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/hotline12367/hotline/kb"
)

func runKBCheck(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kb check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("kb", getenv("HOTLINE_KB"), "knowledge base directory (default: the embedded files)")
	if err := fs.Parse(args); err != nil {
		return exitError(2)
	}
	entries, err := kb.Load(kb.Dir(*dir))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitError(1)
	}
	probs := kb.Check(entries)
	for _, p := range probs {
		fmt.Fprintln(stdout, p)
	}
	if len(probs) > 0 {
		fmt.Fprintf(stdout, "%d problems in %d entries\n", len(probs), len(entries))
		return exitError(1)
	}
	fmt.Fprintf(stdout, "ok: %d entries, %d languages\n", len(entries), len(kb.Langs))
	return nil
}
