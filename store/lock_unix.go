//go:build unix

package store

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockJournal takes the lock that makes this process the one that owns the database's
// message journal. owned is false when another process holds it (a running server, while
// `hotline agent add` opens the same database); the lock goes with the process, crash or not.
func lockJournal(path string) (unlock func(), owned bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("store: journal lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return func() {}, false, nil
		}
		return nil, false, fmt.Errorf("store: journal lock: %w", err)
	}
	return func() { f.Close() }, true, nil
}
