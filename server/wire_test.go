package server

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hotline12367/hotline/protocol"
	"github.com/hotline12367/hotline/store"
)

// The hand-written frames must say exactly what encoding/json says of the same frame.

func TestMessageFrameMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2024, 8, 19, 10, 30, 0, 123000000, time.FixedZone("CST", 8*3600))
	for _, m := range []store.Message{
		{Seq: 1, Role: store.RoleBot, Kind: store.KindMessage, CreatedAt: at,
			Body: mustJSON(messageBody{Text: "Bonjour <b>&</b> \"à tous\"\n", Lang: "fr"})},
		{Seq: 7, ClientID: "m-\"1\"\\<script>\u2028\x01", Role: store.RoleVisitor, Kind: store.KindMessage, CreatedAt: at,
			Body: mustJSON(messageBody{Text: "سؤال"})},
		{Seq: 8, Role: store.RoleBot, Kind: store.KindMessage, CreatedAt: at,
			Body: mustJSON(messageBody{Text: "144 小时", Lang: "zh", Answer: &protocol.Answer{FAQID: "transit-144h", Confidence: 0.87,
				AsOf: "2024-08-19", Related: []protocol.Suggestion{{ID: "a", Question: "q?"}}}})},
		{Seq: 9, Role: store.RoleSystem, Kind: store.KindEvent, CreatedAt: at,
			Body: mustJSON(messageBody{Event: protocol.EventQueued, Position: 3, WaitMin: 4, Lang: "ru", Text: "Вы 3-й"})},
		{Seq: 10, Role: store.RoleSystem, Kind: store.KindEvent, CreatedAt: at, Body: json.RawMessage(`{}`)},
		{Seq: 11, Role: store.RoleSystem, Kind: store.KindEvent, CreatedAt: at, Body: json.RawMessage(` { } `)},
	} {
		w := wireMessage(m)
		f := protocol.ServerFrame{Type: protocol.TypeMessage, ConversationID: "c-1", Message: &w}
		if m.Kind == store.KindEvent {
			f.Type = protocol.TypeEvent
		}
		sameJSON(t, messageFrame("c-1", m), f)
	}
}

func TestAckFrameMatchesEncodingJSON(t *testing.T) {
	for _, id := range []string{"m1", "", "é\"<>&\u2029"} {
		sameJSON(t, ackFrame(id, 42), protocol.ServerFrame{Type: protocol.TypeAck, ID: id, Seq: 42})
	}
}

// sameJSON checks that got decodes to want, field for field.
func sameJSON(t *testing.T, got []byte, want protocol.ServerFrame) {
	t.Helper()
	wantB, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("invalid JSON %s: %v", got, err)
	}
	_ = json.Unmarshal(wantB, &w)
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("frame differs from encoding/json's:\n got %s\nwant %s", got, wantB)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a", "\"\\", "<>&", "\u2028\u2029", "\xff\xfe", "\x00\x1f\b\f", "مرحبا", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}
