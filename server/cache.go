package server

import (
	"container/list"
	"sync"

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
}

func newAnswerCache(size int) *answerCache {
	return &answerCache{size: size, ll: list.New(), items: map[kb.Query]*list.Element{}}
}

func (c *answerCache) get(q kb.Query) (kb.Answer, bool) {
	if c.size <= 0 {
		return kb.Answer{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[q]
	if !ok {
		return kb.Answer{}, false
	}
	c.ll.MoveToFront(el)
	return el.Value.(*cacheEntry).ans, true
}

func (c *answerCache) put(q kb.Query, a kb.Answer) {
	if c.size <= 0 || len(q.Text) > 512 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[q]; ok {
		el.Value.(*cacheEntry).ans = a
		c.ll.MoveToFront(el)
		return
	}
	c.items[q] = c.ll.PushFront(&cacheEntry{q: q, ans: a})
	if c.ll.Len() > c.size {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*cacheEntry).q)
	}
}
