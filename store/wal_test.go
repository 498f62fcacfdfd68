package store

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// TestWALStaysBounded writes without pause from many goroutines, so that the WAL is never
// found all copied at the start of a write, and checks that the writer's RESTART checkpoints
// keep the WAL file short all the same.
func TestWALStaysBounded(t *testing.T) {
	path := t.TempDir() + "/wal.db"
	// Small figures, so that a few thousand writes cross them many times.
	s, err := open(path, 64, 2*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const convs, perConv = 16, 300
	now := time.Now()
	for i := range convs {
		id := fmt.Sprint("c", i)
		if err := s.CreateConversation(ctx, Conversation{ID: id, TokenHash: []byte(id), Lang: "en", State: StateBot,
			CreatedAt: now, UpdatedAt: now, TokenExpiresAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var largest int64
	var mu sync.Mutex
	for i := range convs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprint("c", i)
			for j := range perConv {
				body := fmt.Appendf(nil, `{"text":"answer %d of %s, long enough to fill pages: %0200d"}`, j, id, j)
				if _, err := s.AppendAll(ctx, []Message{
					{ConversationID: id, ClientID: fmt.Sprint(j), Role: RoleVisitor, Kind: KindMessage, Body: body, CreatedAt: now},
					{ConversationID: id, Role: RoleBot, Kind: KindMessage, Body: body, CreatedAt: now},
				}); err != nil {
					t.Error(err)
					return
				}
				if fi, err := os.Stat(path + "-wal"); err == nil {
					mu.Lock()
					largest = max(largest, fi.Size())
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if s.checkpoints.Load() == 0 {
		t.Error("the writer never started the WAL over")
	}
	// Bounded by the restart threshold, the frames written while the checkpointer catches up,
	// and a batch: about 2 MiB here, where without the RESTART checkpoints it passes 40 MiB.
	if limit := int64(8 << 20); largest > limit {
		t.Errorf("the WAL grew to %d bytes, want at most %d", largest, limit)
	}
	t.Logf("largest WAL: %d bytes; RESTART checkpoints: %d", largest, s.checkpoints.Load())
}
