package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAppendParallel measures stored messages per second with many writers, as the
// server has (one conversation per writer, two messages per write: a question and its answer).
func BenchmarkAppendParallel(b *testing.B) {
	s := openBench(b)
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := fmt.Sprint("c", n.Add(1))
		createBench(b, s, id)
		i := 0
		for pb.Next() {
			i++
			appendBench(b, s, id, fmt.Sprint(i), `{"text":"Foreigners transiting through China can stay up to 144 hours without a visa.","answer":{"faq_id":"transit-144h"}}`)
		}
	})
}

// BenchmarkAppendManyConversations is BenchmarkAppendParallel over 20,000 conversations, as a
// loaded server holds: each write lands on a different page of the seq index, and the
// database outgrows the writer's page cache.
func BenchmarkAppendManyConversations(b *testing.B) {
	s := openBench(b)
	const convs = 20000
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < convs; i += 64 {
				createBench(b, s, fmt.Sprint("c", i))
			}
		}()
	}
	wg.Wait()
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			appendBench(b, s, fmt.Sprint("c", i*7919%convs), fmt.Sprint(i), benchAnswer)
		}
	})
}

func openBench(b *testing.B) *SQLite {
	s, err := Open(b.TempDir() + "/bench.db")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func createBench(b *testing.B, s *SQLite, id string) {
	now := time.Now()
	if err := s.CreateConversation(context.Background(), Conversation{ID: id, TokenHash: []byte(id), Lang: "en",
		State: StateBot, CreatedAt: now, UpdatedAt: now, TokenExpiresAt: now}); err != nil {
		b.Error(err)
	}
}

// appendBench stores a question and its answer, the commonest write.
func appendBench(b *testing.B, s *SQLite, id, clientID, answer string) {
	now := time.Now()
	if _, err := s.AppendAll(context.Background(), []Message{
		{ConversationID: id, ClientID: clientID, Role: RoleVisitor, Kind: KindMessage, Body: []byte(`{"text":"how long can I stay?"}`), CreatedAt: now},
		{ConversationID: id, Role: RoleBot, Kind: KindMessage, Body: []byte(answer), CreatedAt: now},
	}); err != nil {
		b.Error(err)
	}
}

// benchAnswer is the size of a stored answer: its text, source, as-of date and related questions.
var benchAnswer = `{"text":"` + strings.Repeat("Foreigners transiting through China can stay up to 144 hours without a visa. ", 12) +
	`","answer":{"faq_id":"transit-144h","kind":"faq","confidence":0.92,"as_of":"2024-08-19","source":{"speaker":"NIA","outlet":"SCIO briefing"},` +
	`"related":[{"id":"a","question":"Which ports allow visa-free transit?"},{"id":"b","question":"Can I leave the region?"}]}}`
