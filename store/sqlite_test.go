package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hotline12367/hotline/store"
)

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

func open(t *testing.T, path string) *store.SQLite {
	t.Helper()
	db, err := store.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newConversation(t *testing.T, db *store.SQLite, id string) store.Conversation {
	t.Helper()
	c := store.Conversation{
		ID: id, TokenHash: []byte("hash-of-" + id), Lang: "fr", Channel: "web", State: store.StateBot,
		CreatedAt: t0, UpdatedAt: t0, TokenExpiresAt: t0.Add(time.Hour),
	}
	if err := db.CreateConversation(context.Background(), c); err != nil {
		t.Fatalf("CreateConversation %s: %v", id, err)
	}
	return c
}

func message(conv, clientID, text string) store.Message {
	body, _ := json.Marshal(map[string]string{"text": text})
	role := store.RoleBot
	if clientID != "" {
		role = store.RoleVisitor
	}
	return store.Message{ConversationID: conv, ClientID: clientID, Role: role, Kind: store.KindMessage, Body: body, CreatedAt: t0}
}

func TestOpenTwiceRunsMigrationsOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dir", "h.db") // Open makes the directories
	ctx := context.Background()
	db := open(t, path)
	newConversation(t, db, "c1")

	// A second Open of the same file while the first is open, and a third after both close,
	// find the schema in place and leave the data alone.
	db2 := open(t, path)
	if _, err := db2.Conversation(ctx, "c1"); err != nil {
		t.Errorf("second Open: Conversation: got %v, want the conversation", err)
	}
	if err := db2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db3 := open(t, path)
	if _, err := db3.Conversation(ctx, "c1"); err != nil {
		t.Errorf("third Open: Conversation: got %v, want the conversation", err)
	}
	newConversation(t, db3, "c2")
}

func TestAppendConcurrentSeqs(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "h.db"))
	ctx := context.Background()
	convs := []string{"a", "b", "c"}
	for _, id := range convs {
		newConversation(t, db, id)
	}
	const writers, each = 24, 25
	var wg sync.WaitGroup
	errs := make(chan error, len(convs)*writers*each)
	for _, conv := range convs {
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					clientID := ""
					if i%2 == 0 {
						clientID = fmt.Sprintf("w%d-%d", w, i)
					}
					if _, err := db.Append(ctx, message(conv, clientID, "x")); err != nil {
						errs <- fmt.Errorf("%s: %w", conv, err)
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Append: %v", err)
	}
	const total = writers * each
	for _, conv := range convs {
		ms, err := db.MessagesAfter(ctx, conv, 0, 2*total)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, m := range ms {
			got = append(got, m.Seq)
		}
		want := make([]int64, total)
		for i := range want {
			want[i] = int64(i + 1)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %d seqs %v..., want 1..%d once each", conv, len(got), got[:min(10, len(got))], total)
		}
		c, err := db.Conversation(ctx, conv)
		if err != nil || c.LastSeq != total {
			t.Errorf("%s: got last seq %d (%v), want %d", conv, c.LastSeq, err, total)
		}
	}
}

func TestAppendDuplicateClientID(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "h.db"))
	ctx := context.Background()
	newConversation(t, db, "c1")
	newConversation(t, db, "c2")

	first, err := db.Append(ctx, message("c1", "m1", "hello"))
	if err != nil || first.Seq != 1 {
		t.Fatalf("first Append: got seq %d, %v, want seq 1", first.Seq, err)
	}
	tests := []struct {
		name    string
		m       store.Message
		wantErr error
		wantSeq int64
	}{
		{"same id, same conversation", message("c1", "m1", "hello again"), store.ErrDuplicate, 1},
		{"same id, other conversation", message("c2", "m1", "hello"), nil, 1},
		{"other id", message("c1", "m2", "next"), nil, 2},
		{"no id twice", message("c1", "", "bot"), nil, 3},
		{"no id twice, again", message("c1", "", "bot"), nil, 4},
		{"unknown conversation", message("nope", "m1", "x"), store.ErrNotFound, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.Append(ctx, tt.m)
			if !errors.Is(err, tt.wantErr) || err == nil && tt.wantErr != nil {
				t.Fatalf("Append: got error %v, want %v", err, tt.wantErr)
			}
			if got.Seq != tt.wantSeq {
				t.Errorf("seq: got %d, want %d", got.Seq, tt.wantSeq)
			}
			if errors.Is(err, store.ErrDuplicate) {
				// The stored message comes back, not the retry.
				if string(got.Body) != string(first.Body) || got.Role != first.Role || got.ClientID != "m1" ||
					!got.CreatedAt.Equal(first.CreatedAt) {
					t.Errorf("duplicate: got %+v, want the stored %+v", got, first)
				}
			}
		})
	}
	ms, err := db.MessagesAfter(ctx, "c1", 0, 100)
	if err != nil || len(ms) != 4 {
		t.Errorf("c1: got %d messages (%v), want 4", len(ms), err)
	}
}

// Many retries of one message at once store it once.
func TestAppendConcurrentDuplicates(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "h.db"))
	ctx := context.Background()
	newConversation(t, db, "c1")
	const n = 32
	var wg sync.WaitGroup
	results := make(chan error, n)
	seqs := make(chan int64, n)
	for range n {
		wg.Go(func() {
			m, err := db.Append(ctx, message("c1", "same", "hi"))
			results <- err
			seqs <- m.Seq
		})
	}
	wg.Wait()
	close(results)
	close(seqs)
	var stored, dups int
	for err := range results {
		switch {
		case err == nil:
			stored++
		case errors.Is(err, store.ErrDuplicate):
			dups++
		default:
			t.Errorf("Append: got %v, want nil or ErrDuplicate", err)
		}
	}
	for s := range seqs {
		if s != 1 {
			t.Errorf("seq: got %d, want 1 for every attempt", s)
		}
	}
	if stored != 1 || dups != n-1 {
		t.Errorf("got %d stored and %d duplicates, want 1 and %d", stored, dups, n-1)
	}
}

func TestDataSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	ctx := context.Background()
	db := open(t, path)
	conv := newConversation(t, db, "c1")
	for i := range 3 {
		if _, err := db.Append(ctx, message("c1", fmt.Sprintf("m%d", i), fmt.Sprintf("text %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.SetLang(ctx, "c1", "zh", "Hant", true); err != nil {
		t.Fatal(err)
	}
	if err := db.SetState(ctx, "c1", store.StateClosed, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveFeedback(ctx, "c1", 2, false, t0); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
	if _, err := db.Append(ctx, message("c1", "late", "x")); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Append after Close: got %v, want ErrClosed", err)
	}
	if _, err := db.Append(ctx, message("never-appended-to", "late", "x")); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Append after Close to a conversation not in memory: got %v, want ErrClosed", err)
	}

	db = open(t, path)
	c, err := db.ConversationByToken(ctx, conv.TokenHash)
	if err != nil {
		t.Fatalf("ConversationByToken: %v", err)
	}
	want := conv
	want.Lang, want.Script, want.LangChosen, want.State, want.LastSeq = "zh", "Hant", true, store.StateClosed, 3
	want.UpdatedAt = t0.Add(time.Minute)
	if fmt.Sprint(c) != fmt.Sprint(want) {
		t.Errorf("conversation after reopen:\ngot  %+v\nwant %+v", c, want)
	}
	ms, err := db.MessagesAfter(ctx, "c1", 1, 10)
	if err != nil || len(ms) != 2 || ms[0].Seq != 2 || ms[0].ClientID != "m1" || string(ms[1].Body) != `{"text":"text 2"}` {
		t.Errorf("messages after reopen: got %+v (%v), want seqs 2 and 3", ms, err)
	}
	if h, err := db.Feedback(ctx, "c1", 2); err != nil || h {
		t.Errorf("feedback after reopen: got %v, %v, want false, nil", h, err)
	}
}

func TestNotFound(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "h.db"))
	ctx := context.Background()
	newConversation(t, db, "c1")
	tests := []struct {
		name string
		err  error
	}{
		{"Conversation", func() error { _, err := db.Conversation(ctx, "nope"); return err }()},
		{"ConversationByToken", func() error { _, err := db.ConversationByToken(ctx, []byte("nope")); return err }()},
		{"Message", func() error { _, err := db.Message(ctx, "c1", 1); return err }()},
		{"Feedback", func() error { _, err := db.Feedback(ctx, "c1", 1); return err }()},
		{"SetState", db.SetState(ctx, "nope", store.StateClosed, t0)},
		{"SetLang", db.SetLang(ctx, "nope", "en", "", false)},
		{"SetTokenExpiry", db.SetTokenExpiry(ctx, "nope", t0)},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, store.ErrNotFound) {
			t.Errorf("%s: got %v, want ErrNotFound", tt.name, tt.err)
		}
	}
}

func TestFeedbackReplaced(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "h.db"))
	ctx := context.Background()
	newConversation(t, db, "c1")
	for _, helpful := range []bool{true, false, true} {
		if err := db.SaveFeedback(ctx, "c1", 1, helpful, t0); err != nil {
			t.Fatal(err)
		}
		if got, err := db.Feedback(ctx, "c1", 1); err != nil || got != helpful {
			t.Errorf("Feedback: got %v, %v, want %v", got, err, helpful)
		}
	}
}

func TestIdleAndUnanswered(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "h.db"))
	ctx := context.Background()
	for _, id := range []string{"old", "new", "closed", "asked"} {
		newConversation(t, db, id)
	}
	later := message("new", "", "greeting")
	later.CreatedAt = t0.Add(time.Hour)
	if _, err := db.Append(ctx, later); err != nil {
		t.Fatal(err)
	}
	if err := db.SetState(ctx, "closed", store.StateClosed, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Append(ctx, message("asked", "q1", "a question")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Append(ctx, message("old", "", "a bot message")); err != nil {
		t.Fatal(err)
	}

	idle, err := db.IdleConversations(ctx, t0.Add(time.Minute), 10)
	slices.Sort(idle)
	if want := []string{"asked", "old"}; err != nil || !slices.Equal(idle, want) {
		t.Errorf("IdleConversations: got %v, %v, want %v", idle, err, want)
	}
	un, err := db.Unanswered(ctx, 10)
	if want := []string{"asked"}; err != nil || !slices.Equal(un, want) {
		t.Errorf("Unanswered: got %v, %v, want %v", un, err, want)
	}
}

func TestAppendAll(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "h.db"))
	ctx := context.Background()
	newConversation(t, db, "c1")
	newConversation(t, db, "c2")
	count := func(conv string) int {
		t.Helper()
		ms, err := db.MessagesAfter(ctx, conv, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(ms)
	}

	got, err := db.AppendAll(ctx, []store.Message{message("c1", "q1", "question"), message("c1", "", "answer")})
	if err != nil || len(got) != 2 || got[0].Seq != 1 || got[1].Seq != 2 || got[0].ClientID != "q1" {
		t.Fatalf("AppendAll: got %+v, %v, want seqs 1 and 2", got, err)
	}
	tests := []struct {
		name    string
		msgs    []store.Message
		wantErr error // nil: any error
		wantN   int   // messages in c1 after
	}{
		{"retry of the question", []store.Message{message("c1", "q1", "question"), message("c1", "", "answer")}, store.ErrDuplicate, 2},
		{"two conversations", []store.Message{message("c1", "q2", "question"), message("c2", "", "answer")}, nil, 2},
		{"unknown conversation", []store.Message{message("nope", "q3", "x")}, store.ErrNotFound, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.AppendAll(ctx, tt.msgs)
			if err == nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("AppendAll: got %+v, %v, want error %v", got, err, tt.wantErr)
			}
			if errors.Is(err, store.ErrDuplicate) && (len(got) != 1 || got[0].Seq != 1) {
				t.Errorf("duplicate: got %+v, want the stored question alone", got)
			}
			if n := count("c1"); n != tt.wantN {
				t.Errorf("c1: got %d messages, want %d (all or none)", n, tt.wantN)
			}
		})
	}
	if n := count("c2"); n != 0 {
		t.Errorf("c2: got %d messages, want 0", n)
	}
	got, err = db.AppendAll(ctx, []store.Message{message("c1", "q2", "next")})
	if err != nil || got[0].Seq != 3 {
		t.Errorf("next AppendAll: got %+v, %v, want seq 3 (no seq lost to the failures)", got, err)
	}
}

func TestAppendAllLang(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "h.db"))
	ctx := context.Background()
	newConversation(t, db, "c1") // in French
	got, err := db.AppendAllLang(ctx, []store.Message{message("c1", "q1", "¿cuánto?"), message("c1", "", "respuesta")}, "es", "")
	if err != nil || len(got) != 2 || got[1].Seq != 2 {
		t.Fatalf("AppendAllLang: got %+v, %v", got, err)
	}
	c, err := db.Conversation(ctx, "c1")
	if err != nil || c.Lang != "es" || c.LangChosen || c.LastSeq != 2 {
		t.Fatalf("after AppendAllLang: got %+v, %v, want es, detected, last seq 2", c, err)
	}
	// A retry changes nothing, the language included.
	if _, err := db.AppendAllLang(ctx, []store.Message{message("c1", "q1", "¿cuánto?")}, "zh", "Hant"); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("retry: got %v, want ErrDuplicate", err)
	}
	if c, _ := db.Conversation(ctx, "c1"); c.Lang != "es" || c.Script != "" {
		t.Errorf("after a retry: got language %s-%s, want es", c.Lang, c.Script)
	}
}

func TestCreateConversationWithGreeting(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "h.db"))
	ctx := context.Background()
	c := store.Conversation{ID: "c1", TokenHash: []byte("h1"), Lang: "ar", Channel: "web", State: store.StateBot,
		CreatedAt: t0, UpdatedAt: t0, TokenExpiresAt: t0.Add(time.Hour)}
	greeting := message("c1", "", "مرحبا")
	if err := db.CreateConversation(ctx, c, greeting); err != nil {
		t.Fatal(err)
	}
	ms, err := db.MessagesAfter(ctx, "c1", 0, 10)
	if err != nil || len(ms) != 1 || ms[0].Seq != 1 || string(ms[0].Body) != string(greeting.Body) || !ms[0].CreatedAt.Equal(t0) {
		t.Fatalf("after CreateConversation: got %+v, %v, want the greeting at seq 1", ms, err)
	}
	if got, _ := db.Conversation(ctx, "c1"); got.LastSeq != 1 {
		t.Errorf("last seq: got %d, want 1", got.LastSeq)
	}
	// Both or neither: a second conversation with the same token stores no greeting either.
	c2 := c
	c2.ID = "c2"
	if err := db.CreateConversation(ctx, c2, message("c2", "", "x")); err == nil {
		t.Fatal("a second conversation with the same token hash was stored")
	}
	if ms, _ := db.MessagesAfter(ctx, "c2", 0, 10); len(ms) != 0 {
		t.Errorf("the refused conversation's greeting was stored: %+v", ms)
	}
}
