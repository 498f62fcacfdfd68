package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"

	"github.com/hotline12367/hotline/kb"
	"github.com/hotline12367/hotline/store"
)

// runAgent manages agent accounts: hotline agent add -name NAME -langs zh,en [-role supervisor].
func runAgent(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		fmt.Fprintln(stderr, "usage: hotline agent add -name NAME -langs zh,en [-role agent|supervisor] [-max-chats N] [-data DIR]")
		return exitError(2)
	}
	fs := flag.NewFlagSet("agent add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "the agent's login name")
	langs := fs.String("langs", "", "languages the agent speaks, comma-separated (zh,en,fr,es,ru,ar)")
	role := fs.String("role", "agent", "agent or supervisor")
	maxChats := fs.Int("max-chats", 3, "conversations the agent may hold at once")
	data := fs.String("data", envDefault(getenv, "data", "data"), "the server's data directory")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitError(2)
	}
	var problems []string
	if strings.TrimSpace(*name) == "" {
		problems = append(problems, "-name is required")
	}
	var ls []string
	for _, l := range strings.Split(*langs, ",") {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		if !kb.ValidLang(l) {
			problems = append(problems, fmt.Sprintf("-langs: %q is not one of %s", l, strings.Join(kb.Langs, " ")))
		}
		if !slices.Contains(ls, l) {
			ls = append(ls, l)
		}
	}
	if len(ls) == 0 {
		problems = append(problems, "-langs needs at least one language")
	}
	if *role != "agent" && *role != "supervisor" {
		problems = append(problems, "-role must be agent or supervisor")
	}
	if *maxChats < 1 {
		problems = append(problems, "-max-chats must be at least 1")
	}
	if len(problems) > 0 {
		fmt.Fprintln(stderr, strings.Join(problems, "\n"))
		return exitError(2)
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	if len(pw) < 10 {
		fmt.Fprintln(stderr, "the password must be at least 10 characters")
		return exitError(2)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	db, err := store.Open(filepath.Join(*data, "hotline.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	err = db.CreateAgent(ctx, store.Agent{
		ID: strings.ToLower(rand.Text()[:16]), Name: *name, PasswordHash: string(hash), Langs: ls,
		Role: *role, MaxChats: *maxChats, CreatedAt: time.Now(),
	})
	if errors.Is(err, store.ErrExists) {
		fmt.Fprintf(stderr, "an agent named %q exists already\n", *name)
		return exitError(1)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "agent %s added (%s, %s)\n", *name, *role, strings.Join(ls, ","))
	return nil
}

// readPassword reads the password from the terminal without echo, twice, or else one line
// from standard input (for scripts: echo "$PW" | hotline agent add ...).
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
