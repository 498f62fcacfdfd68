package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/hotline12367/hotline/bench"
)

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := bench.Config{Log: stderr}
	fs.StringVar(&cfg.URL, "url", "ws://127.0.0.1:8080/ws", "the server's WebSocket URL")
	fs.IntVar(&cfg.Conns, "conns", 1000, "concurrent visitor connections to hold")
	fs.Float64Var(&cfg.Rate, "rate", 1000, "questions per second over all connections (open loop)")
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long to ask once all connections are open")
	fs.IntVar(&cfg.Sources, "sources", 250, "127.0.0.x source addresses to spread connections over (loopback targets)")
	fs.Float64Var(&cfg.DialRate, "dial-rate", 2000, "new connections per second while ramping up")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitError(2)
	}
	if cfg.Conns <= 0 || cfg.Rate <= 0 || cfg.Duration <= 0 {
		fmt.Fprintln(stderr, "bench: -conns, -rate and -duration must be positive")
		return exitError(2)
	}
	return bench.Run(ctx, cfg, stdout)
}
