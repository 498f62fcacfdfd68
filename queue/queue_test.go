package queue

import (
	"errors"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock                   { return &clock{t: time.Date(2024, 8, 19, 10, 0, 0, 0, time.UTC)} }
func ids(es []Entry) (out []string) {
	for _, e := range es {
		out = append(out, e.ConversationID)
	}
	return out
}

func TestFirstComeFirstServedWithinLanguage(t *testing.T) {
	c := newClock()
	q := New(c.now)
	for _, e := range []Entry{{ConversationID: "a", Lang: "ar"}, {ConversationID: "b", Lang: "en"}, {ConversationID: "c", Lang: "ar"}, {ConversationID: "d", Lang: "en"}} {
		q.Enqueue(e)
		c.advance(time.Second)
	}
	q.Enqueue(Entry{ConversationID: "a", Lang: "ar"}) // again: stays where it was
	if got, want := ids(q.Entries()), []string{"a", "b", "c", "d"}; !equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for id, want := range map[string]int{"a": 1, "b": 1, "c": 2, "d": 2} {
		if got, _ := q.Position(id); got != want {
			t.Errorf("position of %s: got %d, want %d", id, got, want)
		}
	}
	q.SetAgent(Agent{ID: "en1", Name: "Ann", Langs: []string{"en"}, MaxChats: 2})
	q.SetAgent(Agent{ID: "zh1", Name: "Li", Langs: []string{"zh"}, MaxChats: 1})
	q.Connect("en1")
	q.Connect("zh1")
	// An agent gets the oldest conversation in their languages first...
	if e, ok := q.Next("en1"); !ok || e.ConversationID != "b" {
		t.Errorf("next for en1: got %v %v, want b", e.ConversationID, ok)
	}
	// ...and the oldest of any language when none of theirs waits.
	if e, ok := q.Next("zh1"); !ok || e.ConversationID != "a" {
		t.Errorf("next for zh1: got %v %v, want a", e.ConversationID, ok)
	}
	if _, err := q.Claim("zh1", "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Claim("zh1", "c"); !errors.Is(err, ErrAtCapacity) {
		t.Errorf("claim over capacity: got %v, want ErrAtCapacity", err)
	}
	if _, err := q.Claim("en1", "a"); !errors.Is(err, ErrNotQueued) {
		t.Errorf("claim of a taken conversation: got %v, want ErrNotQueued", err)
	}
	if got, _ := q.Position("c"); got != 1 {
		t.Errorf("position of c after a was taken: got %d, want 1", got)
	}
}

func TestDroppedAgentsConversationsGoBackToTheFront(t *testing.T) {
	c := newClock()
	q := New(c.now)
	q.SetAgent(Agent{ID: "x", Name: "X", Langs: []string{"fr"}, MaxChats: 3})
	q.Connect("x")
	q.Enqueue(Entry{ConversationID: "old", Lang: "fr"})
	c.advance(time.Minute)
	q.Enqueue(Entry{ConversationID: "w1", Lang: "fr"})
	if _, err := q.Claim("x", "old"); err != nil {
		t.Fatal(err)
	}
	c.advance(time.Minute)
	q.Enqueue(Entry{ConversationID: "w2", Lang: "fr"})
	q.Drop("x")
	c.advance(29 * time.Second)
	if got := q.Expire(30 * time.Second); len(got) != 0 {
		t.Fatalf("within the grace period: got %v back, want none", got)
	}
	q.Connect("x") // came back in time: keeps the conversation
	q.Drop("x")
	c.advance(31 * time.Second)
	back := q.Expire(30 * time.Second)
	if len(back) != 1 || back[0].ConversationID != "old" {
		t.Fatalf("after the grace period: got %v, want old back", back)
	}
	if got, want := ids(q.Entries()), []string{"old", "w1", "w2"}; !equal(got, want) {
		t.Errorf("queue: got %v, want %v", got, want)
	}
}

func TestRestoreKeepsOrderAndAssignments(t *testing.T) {
	c := newClock()
	q := New(c.now)
	q.SetAgent(Agent{ID: "x", Name: "X", Langs: []string{"en"}})
	for _, id := range []string{"a", "b", "c"} {
		q.Enqueue(Entry{ConversationID: id, Lang: "en"})
		c.advance(time.Second)
	}
	if _, err := q.Claim("x", "b"); err != nil {
		t.Fatal(err)
	}
	var as []Assignment
	for _, id := range []string{"a", "b", "c"} {
		if a, ok := q.Assignment(id); ok {
			as = append(as, a)
		}
	}
	// The database returns rows in any order.
	es := q.Entries()
	es[0], es[1] = es[1], es[0]
	r := Restore(c.now, es, as)
	if got, want := ids(r.Entries()), []string{"a", "c"}; !equal(got, want) {
		t.Errorf("restored queue: got %v, want %v", got, want)
	}
	if a, ok := r.Assignment("b"); !ok || a.AgentID != "x" {
		t.Errorf("restored assignment of b: got %v %v, want x", a, ok)
	}
}

func TestEstimatedWaitFromHandlingTimes(t *testing.T) {
	c := newClock()
	q := New(c.now)
	q.SetAgent(Agent{ID: "x", Name: "X", Langs: []string{"en"}, MaxChats: 1})
	q.Connect("x")
	q.Enqueue(Entry{ConversationID: "a", Lang: "en"})
	if _, err := q.Claim("x", "a"); err != nil {
		t.Fatal(err)
	}
	c.advance(6 * time.Minute)
	q.Release("a")
	q.Enqueue(Entry{ConversationID: "b", Lang: "en"})
	q.Enqueue(Entry{ConversationID: "c", Lang: "en"})
	if got, want := q.EstimatedWait("c"), 12*time.Minute; got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestTransfer(t *testing.T) {
	c := newClock()
	q := New(c.now)
	q.SetAgent(Agent{ID: "x", Name: "X", Langs: []string{"en"}})
	q.SetAgent(Agent{ID: "y", Name: "Y", Langs: []string{"ar"}})
	q.Enqueue(Entry{ConversationID: "a", Lang: "en"})
	q.Enqueue(Entry{ConversationID: "b", Lang: "ar"})
	if _, err := q.Claim("x", "a"); err != nil {
		t.Fatal(err)
	}
	if a, err := q.Transfer("a", "y", ""); err != nil || a.AgentID != "y" {
		t.Fatalf("transfer to y: got %v %v", a, err)
	}
	if _, err := q.Transfer("a", "", "ar"); err != nil {
		t.Fatal(err)
	}
	if got, want := ids(q.Entries()), []string{"a", "b"}; !equal(got, want) {
		t.Errorf("after transfer to the Arabic queue: got %v, want %v", got, want)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
