package server

import (
	"encoding/json"
	"testing"

	"github.com/hotline12367/hotline/kb"
)

// A cached answer's bot body is encoded once; a new answer for the same query gets a body of
// its own, never the old one's.
func TestCachedBotBody(t *testing.T) {
	c := newAnswerCache(2)
	q := kb.Query{Text: "what is the five-star card?"}
	e := c.put(q, kb.Answer{Text: "first answer"})
	encodes := 0
	mk := func(text string) func() json.RawMessage {
		return func() json.RawMessage { encodes++; return mustJSON(messageBody{Text: text}) }
	}
	got := c.get(q)
	if got != e {
		t.Fatal("the cached entry was not found")
	}
	first := got.botBody(mk(got.ans.Text))
	second := got.botBody(mk(got.ans.Text))
	if encodes != 1 || string(first) != string(second) {
		t.Fatalf("encoded %d times: %s, %s", encodes, first, second)
	}
	e2 := c.put(q, kb.Answer{Text: "second answer"})
	if b := e2.botBody(mk(e2.ans.Text)); string(b) != `{"text":"second answer"}` {
		t.Fatalf("the new answer's body: %s", b)
	}
	var none *cacheEntry
	if b := none.botBody(mk("x")); string(b) != `{"text":"x"}` || encodes != 3 {
		t.Fatalf("an uncached answer's body: %s (%d encodes)", b, encodes)
	}
	if c.put(kb.Query{Text: string(make([]byte, 600))}, kb.Answer{}) != nil {
		t.Error("a long query was cached")
	}
}
