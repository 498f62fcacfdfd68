package server

import (
	"container/list"
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/hotline12367/hotline/kb"
)

// answerCache remembers the engine's recent answers: an FAQ's traffic is mostly the same few
// questions, and the engine's answer depends only on the query. A cached answer is shared:
// callers copy the Related slice before changing it. The zero size disables it.
type answerCache struct {
	size int

	mu    sync.Mutex
	ll    *list.List                 // most recent first
	items map[kb.Query]*list.Element // element values are *cacheEntry
}

type cacheEntry struct {
	q   kb.Query
	ans kb.Answer
	// body is the bot message's stored body for ans, encoded once (room.botAnswer): every
	// visitor asking the same question gets the same bytes.
	body atomic.Pointer[json.RawMessage]
}

// botBody returns the body encoded by mk for e's answer, encoding it the first time. A nil
// entry (an answer not cached) encodes every time.
func (e *cacheEntry) botBody(mk func() json.RawMessage) json.RawMessage {
	if e == nil {
		return mk()
	}
	if b := e.body.Load(); b != nil {
		return *b
	}
	b := mk()
	e.body.Store(&b)
	return b
}

func newAnswerCache(size int) *answerCache {
	return &answerCache{size: size, ll: list.New(), items: map[kb.Query]*list.Element{}}
}

// get returns q's entry, or nil.
func (c *answerCache) get(q kb.Query) *cacheEntry {
	if c.size <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[q]
	if !ok {
		return nil
	}
	c.ll.MoveToFront(el)
	return el.Value.(*cacheEntry)
}

// put caches a for q and returns its entry (nil when not cached). An entry's answer never
// changes: a new answer for the same query gets a new entry.
func (c *answerCache) put(q kb.Query, a kb.Answer) *cacheEntry {
	if c.size <= 0 || len(q.Text) > 512 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := &cacheEntry{q: q, ans: a}
	if el, ok := c.items[q]; ok {
		el.Value = e
		c.ll.MoveToFront(el)
		return e
	}
	c.items[q] = c.ll.PushFront(e)
	if c.ll.Len() > c.size {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*cacheEntry).q)
	}
	return e
}
