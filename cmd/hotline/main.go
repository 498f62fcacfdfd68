// Command hotline is the 12367 multilingual chatbot server and its tools.
//
//	hotline serve [-addr 127.0.0.1:8080] [-data DIR] [-kb DIR]   run the server
//	hotline ask [-lang xx] "question"                            answer one question as JSON
//	hotline kb check [-kb DIR]                                   validate the knowledge base
//	hotline bench -url ws://127.0.0.1:8080/ws -conns N ...       load a running server
//	hotline agent add -name NAME -langs zh,en [-role supervisor] create an agent account
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var ee exitError
		if !errors.As(err, &ee) {
			fmt.Fprintln(os.Stderr, "hotline:", err)
		}
		os.Exit(exitCode(err))
	}
}

// exitError ends the command with a code after the command has already said why.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func exitCode(err error) int {
	var ee exitError
	if errors.As(err, &ee) {
		return int(ee)
	}
	return 1
}

const usage = `usage: hotline <command> [flags]

commands:
  serve      run the chat server
  ask        answer one question and print it as JSON
  kb check   validate the knowledge base files
  bench      load a running server over WebSocket and print figures
  agent add  create an agent account

Run "hotline <command> -h" for a command's flags.
`

// run is the whole program: main only supplies the process's arguments, environment and
// standard streams, so tests call run directly.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError(2)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "ask":
		return runAsk(ctx, rest, getenv, stdout, stderr)
	case "kb":
		if len(rest) == 0 || rest[0] != "check" {
			fmt.Fprint(stderr, "usage: hotline kb check [-kb DIR]\n")
			return exitError(2)
		}
		return runKBCheck(rest[1:], getenv, stdout, stderr)
	case "bench":
		return runBench(ctx, rest, stdout, stderr)
	case "agent":
		return runAgent(ctx, rest, getenv, stdin, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "hotline: unknown command %q\n\n%s", cmd, usage)
	return exitError(2)
}
