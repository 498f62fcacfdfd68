package wechat

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestMemoryDedup(t *testing.T) {
	type step struct {
		advance time.Duration
		key     string
		want    bool
	}
	tests := []struct {
		name  string
		max   int
		steps []step
	}{
		{"first and repeat", 10, []step{{0, "a", false}, {0, "a", true}, {0, "b", false}, {time.Second, "a", true}}},
		{"expires after ttl", 10, []step{{0, "a", false}, {time.Minute - 1, "a", true}, {1, "a", false}, {0, "a", true}}},
		{"ttl counts from first sight", 10, []step{{0, "a", false}, {40 * time.Second, "a", true}, {20 * time.Second, "a", false}}},
		{"oldest pushed out", 2, []step{{0, "a", false}, {0, "b", false}, {0, "c", false}, {0, "a", false}, {0, "c", true}}},
		{"max below one", 0, []step{{0, "a", false}, {0, "a", true}, {0, "b", false}, {0, "a", false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Unix(1714112445, 0)}
			d := NewMemoryDedup(tt.max, time.Minute, clock.Now)
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				if got := d.Seen(s.key); got != s.want {
					t.Fatalf("step %d: Seen(%q): got %v, want %v", i, s.key, got, s.want)
				}
			}
		})
	}
}

func TestMemoryDedupBounded(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	d := NewMemoryDedup(100, time.Hour, clock.Now)
	for i := range 1000 {
		d.Seen(fmt.Sprint(i))
	}
	if got := d.Len(); got != 100 {
		t.Errorf("after 1000 keys: got %d remembered, want 100", got)
	}
	clock.Advance(time.Hour)
	d.Seen("new")
	if got := d.Len(); got != 1 {
		t.Errorf("after the ttl: got %d remembered, want 1", got)
	}
}

func TestMemoryDedupConcurrent(t *testing.T) {
	d := NewMemoryDedup(1000, time.Hour, nil)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		fresh int
	)
	for range 16 {
		wg.Go(func() {
			for i := range 100 {
				if !d.Seen(fmt.Sprint(i)) {
					mu.Lock()
					fresh++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if fresh != 100 {
		t.Errorf("got %d first sightings, want 100", fresh)
	}
}
