// Package testenv holds what tests need to run a real hotline server: the engine over the
// embedded knowledge base and the locales, built once per test binary (building the index is
// the slowest part of starting a server, and both are safe for concurrent use), a buffer for
// a server's log, and a configuration without the rate limits in the way.
package testenv

import (
	"bytes"
	"sync"

	"github.com/hotline12367/hotline/kb"
	"github.com/hotline12367/hotline/locales"
	"github.com/hotline12367/hotline/server"
)

var (
	once    sync.Once
	engine  *kb.Engine
	catalog *locales.Catalog
)

func build() {
	entries, err := kb.Load(kb.Embedded())
	if err != nil {
		panic(err)
	}
	if engine, err = kb.New(entries, 0); err != nil {
		panic(err)
	}
	if catalog, err = locales.Load(); err != nil {
		panic(err)
	}
}

// Engine returns the engine over the embedded knowledge base. It panics when the knowledge
// base does not load: no test can run then.
func Engine() *kb.Engine {
	once.Do(build)
	return engine
}

// Catalog returns the embedded locales.
func Catalog() *locales.Catalog {
	once.Do(build)
	return catalog
}

// Close stops the engine's index; call it once, after the tests (TestMain), so that leak
// checks see only what the tests left behind.
func Close() error {
	if engine == nil {
		return nil
	}
	return engine.Close()
}

// Config is server.DefaultConfig with the message rate limits out of the way (the tests of the
// limits set their own) and few answer workers.
func Config() server.Config {
	cfg := server.DefaultConfig()
	cfg.MessageRate, cfg.MessageBurst = 1000, 1000
	cfg.IPMessageRate, cfg.IPMessageBurst = 1000, 1000
	cfg.Workers = 4
	return cfg
}

// LogBuffer collects a server's log lines, to show when a test fails. It is safe for
// concurrent use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
