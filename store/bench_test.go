package store

import (
	"context"
	"fmt"
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
