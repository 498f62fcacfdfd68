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
	s, err := Open(b.TempDir() + "/bench.db")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := fmt.Sprint("c", n.Add(1))
		now := time.Now()
		if err := s.CreateConversation(ctx, Conversation{ID: id, TokenHash: []byte(id), Lang: "en", State: StateBot,
			CreatedAt: now, UpdatedAt: now, TokenExpiresAt: now}); err != nil {
			b.Fatal(err)
		}
		i := 0
		for pb.Next() {
			i++
			if _, err := s.AppendAll(ctx, []Message{
				{ConversationID: id, ClientID: fmt.Sprint(i), Role: RoleVisitor, Kind: KindMessage, Body: []byte(`{"text":"how long can I stay?"}`), CreatedAt: now},
				{ConversationID: id, Role: RoleBot, Kind: KindMessage, Body: []byte(`{"text":"Foreigners transiting through China can stay up to 144 hours without a visa.","answer":{"faq_id":"transit-144h"}}`), CreatedAt: now},
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAppendManyConversations is BenchmarkAppendParallel over 20,000 conversations, as a
// loaded server holds: each write lands on a different page of the seq index, and the
// database outgrows the writer's page cache.
func BenchmarkAppendManyConversations(b *testing.B) {
	s, err := Open(b.TempDir() + "/bench.db")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	const convs = 20000
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < convs; i += 64 {
				id := fmt.Sprint("c", i)
				if err := s.CreateConversation(ctx, Conversation{ID: id, TokenHash: []byte(id), Lang: "en", State: StateBot,
					CreatedAt: now, UpdatedAt: now, TokenExpiresAt: now}); err != nil {
					b.Error(err)
					return
				}
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
			id := fmt.Sprint("c", i*7919%convs)
			if _, err := s.AppendAll(ctx, []Message{
				{ConversationID: id, ClientID: fmt.Sprint(i), Role: RoleVisitor, Kind: KindMessage, Body: []byte(`{"text":"how long can I stay?"}`), CreatedAt: now},
				{ConversationID: id, Role: RoleBot, Kind: KindMessage, Body: []byte(benchAnswer), CreatedAt: now},
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchAnswer is the size of a stored answer: its text, source, as-of date and related questions.
var benchAnswer = `{"text":"` + strings.Repeat("Foreigners transiting through China can stay up to 240 hours without a visa. ", 12) +
	`","answer":{"faq_id":"transit-240h","kind":"faq","confidence":0.92,"as_of":"2024-08-19","source":{"speaker":"NIA","outlet":"SCIO briefing"},` +
	`"related":[{"id":"a","question":"Which ports allow visa-free transit?"},{"id":"b","question":"Can I leave the region?"}]}}`
