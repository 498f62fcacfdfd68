package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

var jt0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

func jConversation(t *testing.T, s *SQLite, id string) {
	t.Helper()
	if err := s.CreateConversation(context.Background(), Conversation{ID: id, TokenHash: []byte("h-" + id), Lang: "en",
		Channel: "web", State: StateBot, CreatedAt: jt0, UpdatedAt: jt0, TokenExpiresAt: jt0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
}

// jOpen opens the store at path; the test closes it.
func jOpen(t *testing.T, path string) *SQLite {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func jMessages(conv string, from int, n int) []Message {
	var out []Message
	for i := range n {
		out = append(out, Message{ConversationID: conv, ClientID: fmt.Sprint("q", from+i), Role: RoleVisitor, Kind: KindMessage,
			Body: []byte(fmt.Sprintf(`{"text":"question %d"}`, from+i)), CreatedAt: jt0.Add(time.Duration(from+i) * time.Second)})
	}
	return out
}

// The crashing half of TestCrashLosesNothingAcknowledged: run as a child process, it appends
// with the writer held (nothing reaches SQLite) and dies without closing anything.
func TestCrashChild(t *testing.T) {
	path := os.Getenv("HOTLINE_STORE_CRASH_DB")
	if path == "" {
		t.Skip("the child of TestCrashLosesNothingAcknowledged")
	}
	testHoldWrites = make(chan struct{})
	s, err := Open(path)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	for i := range 50 {
		if _, err := s.AppendAll(ctx, jMessages("c1", i*2, 2)); err != nil {
			fmt.Println("append:", err)
			os.Exit(2)
		}
	}
	if _, err := s.AppendAllLang(ctx, jMessages("c1", 100, 1), "ar", ""); err != nil {
		fmt.Println("append:", err)
		os.Exit(2)
	}
	os.Exit(3) // a crash: no Close, the writer never committed
}

// Every message AppendAll returned survives a crash of the process that wrote it: the next
// Open applies the journal, in order, once, and deletes it; a record torn by the crash is
// left out.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	s := jOpen(t, path)
	jConversation(t, s, "c1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "HOTLINE_STORE_CRASH_DB="+path)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("child: %v\n%s", err, out)
	}
	files, _ := journalFiles(path)
	if len(files) == 0 {
		t.Fatal("the crashed child left no journal")
	}
	// A crash in the middle of a write leaves part of a record at the end.
	f, err := os.OpenFile(files[len(files)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{200, 0, 0, 0, 1, 2, 3, 4, 5})
	f.Close()

	s = jOpen(t, path)
	defer s.Close()
	ctx := context.Background()
	got, err := s.MessagesAfter(ctx, "c1", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 101 {
		t.Fatalf("after the crash: %d messages, want the 101 acknowledged", len(got))
	}
	for i, m := range got {
		if m.Seq != int64(i+1) || m.ClientID != fmt.Sprint("q", i) || string(m.Body) != fmt.Sprintf(`{"text":"question %d"}`, i) {
			t.Fatalf("message %d: got seq %d client %q body %s", i, m.Seq, m.ClientID, m.Body)
		}
	}
	c, err := s.Conversation(ctx, "c1")
	if err != nil || c.Lang != "ar" || c.LastSeq != 101 {
		t.Errorf("conversation: got %+v, %v; want lang ar (moved with the last record) and last seq 101", c, err)
	}
	if files, _ := journalFiles(path); len(files) != 1 {
		t.Errorf("journal files after recovery: %v, want only the new one", files)
	}
	if rc := s.Recovered(); rc.Records != 51 || rc.Applied != 51 {
		t.Errorf("Recovered: got %+v, want the 51 records applied", rc)
	}
	// The store goes on from there: the next seq, and a retried client id is a duplicate.
	if m, err := s.AppendAll(ctx, jMessages("c1", 101, 1)); err != nil || m[0].Seq != 102 {
		t.Errorf("append after recovery: %v, %v; want seq 102", m, err)
	}
	if m, err := s.AppendAll(ctx, jMessages("c1", 7, 1)); !errors.Is(err, ErrDuplicate) || m[0].Seq != 8 {
		t.Errorf("retry of q7 after recovery: %v, %v; want ErrDuplicate with seq 8", m, err)
	}
}

// A journal whose records SQLite partly has already (a crash after a commit, before the
// segment was deleted) is applied without doubling anything.
func TestRecoverSkipsApplied(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	s := jOpen(t, path)
	jConversation(t, s, "c1")
	first, err := s.AppendAll(context.Background(), jMessages("c1", 0, 2))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	next := jMessages("c1", 2, 2)
	next[0].Seq, next[1].Seq = 3, 4
	orphan := jMessages("gone", 0, 1)
	orphan[0].Seq = 1
	var seg []byte
	for _, r := range []record{{n: 1, conv: "c1", msgs: first}, {n: 2, conv: "c1", msgs: next}, {n: 3, conv: "gone", msgs: orphan}} {
		seg = appendFrame(seg, r)
	}
	if err := os.WriteFile(journalBase(path)+"000001.log", seg, 0o600); err != nil {
		t.Fatal(err)
	}
	s = jOpen(t, path)
	defer s.Close()
	if rc := s.Recovered(); rc.Files != 1 || rc.Records != 3 || rc.Applied != 1 {
		t.Errorf("Recovered: got %+v, want 3 records in 1 file, 1 applied (1 already stored, 1 for a conversation gone)", rc)
	}
	got, err := s.MessagesAfter(context.Background(), "c1", 0, 100)
	if err != nil || len(got) != 4 {
		t.Fatalf("got %d messages (%v), want 4: two already stored, two from the journal", len(got), err)
	}
	for i, m := range got {
		if m.Seq != int64(i+1) || m.ClientID != fmt.Sprint("q", i) {
			t.Errorf("message %d: seq %d client %q", i, m.Seq, m.ClientID)
		}
	}
}

// When SQLite refuses a journaled message, the store stops taking messages rather than
// acknowledge more that it cannot store, and keeps the journal for the next start.
func TestRefusedJournalWriteStopsAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	s := jOpen(t, path)
	jConversation(t, s, "c1")
	// A record for a conversation SQLite does not have: its foreign key refuses it.
	s.mu.RLock()
	_, _, err := s.journal(&convState{ids: map[string]int64{}}, jMessages("nowhere", 0, 1), nil)
	s.mu.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	s.settle()
	if _, err := s.AppendAll(context.Background(), jMessages("c1", 0, 1)); err == nil {
		t.Fatal("append after a refused journaled write: got no error")
	}
	s.Close()
	if files, _ := journalFiles(path); len(files) == 0 {
		t.Fatal("the journal was deleted though SQLite refused part of it")
	}
	s = jOpen(t, path) // the refused record's conversation is gone: it is dropped
	defer s.Close()
	if _, err := s.AppendAll(context.Background(), jMessages("c1", 0, 1)); err != nil {
		t.Errorf("append after reopening: %v", err)
	}
}

// Records read back as written.
func TestRecordRoundTrip(t *testing.T) {
	for _, r := range []record{
		{n: 1, conv: "c", msgs: jMessages("c", 0, 1)},
		{n: 1 << 40, conv: "会话", lang: &[2]string{"zh", "Hant"}, msgs: jMessages("会话", 5, 3)},
	} {
		for i := range r.msgs {
			r.msgs[i].Seq = int64(i + 1)
		}
		got, err := decodeRecord(appendRecord(nil, r))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("got %+v, want %+v", got, r)
		}
	}
}

// The journal is read back from disk after a crash: whatever the bytes, reading neither
// panics nor returns a record that does not encode to what was read.
func FuzzReadRecords(f *testing.F) {
	r := record{n: 7, conv: "c1", lang: &[2]string{"ru", ""}, msgs: jMessages("c1", 0, 2)}
	f.Add(appendFrame(nil, r))
	f.Add(appendRecord(nil, r))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, _, err := readRecords(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			again, err := decodeRecord(appendRecord(nil, r))
			if err != nil || !reflect.DeepEqual(again, r) {
				t.Fatalf("record %+v does not round-trip: %+v, %v", r, again, err)
			}
		}
		decodeRecord(b)
	})
}

// A conversation evicted from memory between an append's lookup and its journaling is looked
// up again, so that two appends never hold two states of it (and take one seq twice).
func TestEvictionDuringAppend(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	jConversation(t, s, "c1")
	ctx := context.Background()
	st, err := s.convState(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	for range idleSweeps + 2 {
		s.evictIdle()
	}
	if _, ok := s.convs["c1"]; ok {
		t.Fatal("an idle conversation was not evicted")
	}
	s.hold = make(chan struct{}) // appends stay pending: seqs come from memory alone
	if _, _, err := s.journal(st, jMessages("c1", 0, 1), nil); !errors.Is(err, errEvicted) {
		t.Fatalf("journaling with an evicted state: %v, want errEvicted", err)
	}
	first, err := s.AppendAll(ctx, jMessages("c1", 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.AppendAll(ctx, jMessages("c1", 1, 1))
	close(s.hold)
	if err != nil || first[0].Seq != 1 || second[0].Seq != 2 {
		t.Fatalf("seqs: got %v and %v (%v), want 1 and 2", first, second, err)
	}
}

// A conversation being appended to is not evicted, however long idle it looked.
func TestNoEvictionWhileAppending(t *testing.T) {
	s := jOpen(t, filepath.Join(t.TempDir(), "h.db"))
	defer s.Close()
	jConversation(t, s, "c1")
	st, err := s.convState(context.Background(), "c1")
	if err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	for range idleSweeps + 2 {
		s.evictIdle()
	}
	st.mu.Unlock()
	if _, ok := s.convs["c1"]; !ok || st.evicted {
		t.Fatal("a conversation was evicted while an append held it")
	}
}

// A second process opening the database while a server runs (hotline agent add) neither
// applies nor deletes the running server's journal, and cannot append messages; the
// server goes on.
func TestSecondOpenLeavesTheJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	s := jOpen(t, path)
	defer s.Close()
	jConversation(t, s, "c1")
	ctx := context.Background()
	if _, err := s.AppendAll(ctx, jMessages("c1", 0, 2)); err != nil {
		t.Fatal(err)
	}
	files, _ := journalFiles(path)

	other := jOpen(t, path)
	if rc := other.Recovered(); rc != (Recovery{}) {
		t.Errorf("the second Open applied the running store's journal: %+v", rc)
	}
	if _, err := other.AppendAll(ctx, jMessages("c1", 2, 1)); !errors.Is(err, ErrNotOwner) {
		t.Errorf("append in the second store: got %v, want ErrNotOwner", err)
	}
	jConversation(t, other, "c2") // other writes go through SQLite as before
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	if now, _ := journalFiles(path); !reflect.DeepEqual(now, files) {
		t.Errorf("journal files: %v before the second store, %v after it closed", files, now)
	}
	if m, err := s.AppendAll(ctx, jMessages("c1", 2, 1)); err != nil || m[0].Seq != 3 {
		t.Errorf("the first store after the second closed: %v, %v; want seq 3", m, err)
	}
}

// A segment that cannot be opened (no descriptor to spare, say) leaves the journal writing
// the one it has, and every record readable; the next rotation that can, happens.
func TestJournalRotationFails(t *testing.T) {
	dir := t.TempDir()
	j, err := openJournal(filepath.Join(dir, "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.close(false)
	blocker := j.base + "000002.log" // O_EXCL: the next segment cannot be created
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := j.next(); err == nil {
		t.Fatal("rotation onto an existing file succeeded")
	}
	for i := range 3 {
		if err := j.write(record{n: uint64(i + 1), conv: "c1", msgs: jMessages("c1", i, 1)}); err != nil {
			t.Fatalf("write %d after a failed rotation: %v", i, err)
		}
	}
	os.Remove(blocker)
	if err := j.next(); err != nil {
		t.Fatal(err)
	}
	if err := j.write(record{n: 4, conv: "c1", msgs: jMessages("c1", 3, 1)}); err != nil {
		t.Fatal(err)
	}
	files, err := journalFiles(filepath.Join(dir, "h.db"))
	if err != nil || len(files) != 2 {
		t.Fatalf("segments: %v, %v", files, err)
	}
	var n int
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		recs, _, err := readRecords(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		n += len(recs)
	}
	if n != 4 {
		t.Fatalf("records read back: %d, want 4", n)
	}
}
