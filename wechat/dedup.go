package wechat

import (
	"container/list"
	"sync"
	"time"
)

// Deduper remembers which pushes were already handled. WeChat retries a push
// it got no answer to within 5 s (3 tries in all), and the [Handler] uses a
// Deduper to deliver each [Message.DedupKey] once.
//
// Seen records key and reports whether it had been recorded before and not
// forgotten since. It must be safe for concurrent use. A Deduper shared by
// several hotline nodes (e.g. in a database) makes retries that land on
// another node deduplicated too.
type Deduper interface {
	Seen(key string) bool
}

var _ Deduper = (*MemoryDedup)(nil)

// MemoryDedup is an in-memory [Deduper] that remembers each key for a fixed
// time-to-live and at most a fixed number of keys, forgetting the oldest
// first. Its zero value is not usable; create one with [NewMemoryDedup]. It is
// safe for concurrent use.
type MemoryDedup struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu    sync.Mutex
	keys  map[string]*list.Element
	order *list.List // of dedupEntry, oldest first; expiries ascend because ttl is fixed
}

type dedupEntry struct {
	key     string
	expires time.Time
}

// NewMemoryDedup returns a MemoryDedup that remembers up to max keys (at
// least 1) for ttl each, reading the time from now (time.Now if nil). WeChat
// makes its last try some 15 s after the first (3 tries, 5 s apart), so a
// ttl of minutes is plenty; max bounds memory when pushes arrive faster than
// they expire.
func NewMemoryDedup(max int, ttl time.Duration, now func() time.Time) *MemoryDedup {
	if max < 1 {
		max = 1
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryDedup{
		ttl:   ttl,
		max:   max,
		now:   now,
		keys:  make(map[string]*list.Element),
		order: list.New(),
	}
}

// Seen records key and reports whether it was already recorded within the
// last ttl (and not pushed out by max newer keys).
func (d *MemoryDedup) Seen(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	for e := d.order.Front(); e != nil; e = d.order.Front() {
		ent := e.Value.(dedupEntry)
		if now.Before(ent.expires) {
			break
		}
		d.order.Remove(e)
		delete(d.keys, ent.key)
	}
	if _, ok := d.keys[key]; ok {
		return true
	}
	d.keys[key] = d.order.PushBack(dedupEntry{key: key, expires: now.Add(d.ttl)})
	for d.order.Len() > d.max {
		e := d.order.Front()
		d.order.Remove(e)
		delete(d.keys, e.Value.(dedupEntry).key)
	}
	return false
}

// Len returns the number of keys currently remembered, expired ones included
// until the next call to Seen.
func (d *MemoryDedup) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.order.Len()
}
