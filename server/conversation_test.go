package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotline12367/hotline/client"
	"github.com/hotline12367/hotline/protocol"
	"github.com/hotline12367/hotline/server"
	"github.com/hotline12367/hotline/store"
)

// transitQuestions ask about the 144-hour transit in each language, in words that are not
// the knowledge base's own; the engine answers each with transit-144h.
var transitQuestions = []struct {
	lang, accept, helloLang, question string
}{
	{"zh", "zh-CN,zh;q=0.9", "zh-CN", "外国人过境中国可以免签停留多少小时？"},
	{"en", "en-GB,en;q=0.8", "en", "Can I transit through China for 144 hours without a visa?"},
	{"fr", "fr-CA,fr;q=0.9,en;q=0.5", "fr", "Puis-je faire une escale de 144 heures en Chine sans visa ?"},
	{"es", "es-MX", "es", "¿Puedo hacer una escala de 144 horas en China sin visado?"},
	{"ru", "ru-RU,ru;q=0.9", "ru", "Сколько часов длится безвизовый транзит через Китай?"},
	{"ar", "ar-EG,ar;q=0.9,en;q=0.5", "ar", "كم ساعة يمكنني البقاء في الصين للعبور بدون تأشيرة؟"},
}

func TestConversationInEachLanguage(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	for _, q := range transitQuestions {
		for _, how := range []string{"accept-language", "hello"} {
			t.Run(q.lang+"/"+how, func(t *testing.T) {
				t.Parallel()
				sess := &client.Session{}
				var header = acceptLanguage("en") // hello's lang must win over the header
				if how == "accept-language" {
					header = acceptLanguage(q.accept)
				} else {
					sess.Lang = q.helloLang
				}
				c := s.dial(t, sess, header)
				w := c.Welcome

				if w.Lang != q.lang {
					t.Errorf("welcome lang: got %q, want %q", w.Lang, q.lang)
				}
				if got, want := w.LangChosen, how == "hello"; got != want {
					t.Errorf("welcome lang_chosen: got %v, want %v", got, want)
				}
				if w.Resumed || w.State != store.StateBot || w.ConversationID == "" || w.ResumeToken == "" {
					t.Errorf("welcome: got resumed=%v state=%q id=%q token=%q, want a new bot conversation with id and token",
						w.Resumed, w.State, w.ConversationID, w.ResumeToken)
				}
				if len(w.Messages) != 1 {
					t.Fatalf("welcome messages: got %s, want the greeting only", describe([]protocol.ServerFrame{w}))
				}
				g := w.Messages[0]
				if want := catalog.T(q.lang, "Greeting", nil); g.Seq != 1 || g.From != protocol.FromBot || g.Text != want || g.Lang != q.lang {
					t.Errorf("greeting: got seq=%d from=%s lang=%s %q, want seq=1 from=bot lang=%s %q", g.Seq, g.From, g.Lang, g.Text, q.lang, want)
				}

				ack, ans := ask(t, c, "q1", q.question)
				if ack.Seq != 2 || ack.Duplicate {
					t.Errorf("ack: got seq=%d duplicate=%v, want seq=2 duplicate=false", ack.Seq, ack.Duplicate)
				}
				m := ans.Message
				if m.Seq != 3 || m.Kind != store.KindMessage {
					t.Errorf("answer: got seq=%d kind=%s, want seq=3 kind=message", m.Seq, m.Kind)
				}
				if m.Lang != q.lang {
					t.Errorf("answer lang: got %q, want %q", m.Lang, q.lang)
				}
				if want := answerText(t, "transit-144h", q.lang); m.Text != want {
					t.Errorf("answer text: got %q, want %q", m.Text, want)
				}
				if _, err := time.Parse(time.RFC3339Nano, m.Time); err != nil {
					t.Errorf("answer time: got %q, want RFC 3339: %v", m.Time, err)
				}
				a := m.Answer
				if a == nil {
					t.Fatalf("answer metadata: got none")
				}
				if a.FAQID != "transit-144h" || a.Handoff || a.AsOf != "2024-08-19" {
					t.Errorf("answer: got faq_id=%q handoff=%v as_of=%q, want transit-144h false 2024-08-19", a.FAQID, a.Handoff, a.AsOf)
				}
				if a.Confidence < engine.Threshold() || a.Confidence > 1 {
					t.Errorf("confidence: got %v, want in [%v, 1]", a.Confidence, engine.Threshold())
				}
				if a.Source == nil || a.Source.Speaker == "" || a.Source.Outlet == "" || a.Source.Document == "" {
					t.Errorf("source: got %+v, want speaker, outlet and document", a.Source)
				}
			})
		}
	}
}

// seqs returns the seqs of ms.
func seqs(ms []protocol.Message) []int64 {
	out := make([]int64, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.Seq)
	}
	return out
}

func seqRange(from, to int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func TestReconnectReceivesMissedMessages(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	hdr := acceptLanguage("en")
	first := &client.Session{}
	c1 := s.dial(t, first, hdr)
	_, ans := ask(t, c1, "a1", "Can I transit through China for 144 hours without a visa?")
	first.Observe(ans)
	if first.LastSeq != 3 {
		t.Fatalf("last seq after one question: got %d, want 3", first.LastSeq)
	}
	c1.CloseNormal()

	// A second connection of the same conversation goes on while the first is away.
	second := *first
	c2 := s.dial(t, &second, hdr)
	if !c2.Welcome.Resumed || c2.Welcome.ConversationID != first.ConversationID {
		t.Fatalf("second welcome: got resumed=%v id=%q, want the conversation %q resumed",
			c2.Welcome.Resumed, c2.Welcome.ConversationID, first.ConversationID)
	}
	if n := len(c2.Welcome.Messages); n != 0 {
		t.Errorf("second welcome at last seq: got %d messages, want 0", n)
	}
	var sent []protocol.Message
	for i, q := range []string{"How many cities are in the individual visit scheme?", "What is the five-star card?", "thank you"} {
		id := fmt.Sprintf("b%d", i)
		ack, ans := ask(t, c2, id, q)
		sent = append(sent, protocol.Message{Seq: ack.Seq, ClientID: id, Text: q, From: protocol.FromVisitor}, *ans.Message)
	}

	// The first comes back with its last seq: exactly what it missed, in order, once.
	c3 := s.dial(t, first, hdr)
	w := c3.Welcome
	if !w.Resumed || w.ConversationID != second.ConversationID || w.More {
		t.Errorf("resumed welcome: got resumed=%v id=%q more=%v, want resumed, same id, no more", w.Resumed, w.ConversationID, w.More)
	}
	if got, want := seqs(w.Messages), seqRange(4, 9); !slices.Equal(got, want) {
		t.Fatalf("replayed seqs: got %v, want %v", got, want)
	}
	if w.Seq != 9 || first.LastSeq != 9 {
		t.Errorf("last seq: got welcome %d session %d, want 9", w.Seq, first.LastSeq)
	}
	for i, m := range w.Messages {
		want := sent[i]
		if m.From != want.From || m.Text != want.Text || m.ClientID != want.ClientID {
			t.Errorf("replayed %d: got from=%s client_id=%q %q, want from=%s client_id=%q %q",
				m.Seq, m.From, m.ClientID, m.Text, want.From, want.ClientID, want.Text)
		}
	}

	// Both connections now see new messages live, each once; the next seqs follow on.
	ack, ans := ask(t, c3, "a2", "What is a port visa?")
	if ack.Seq != 10 || ans.Message.Seq != 11 {
		t.Errorf("next seqs: got ack %d answer %d, want 10 and 11", ack.Seq, ans.Message.Seq)
	}
	var live []int64
	for len(live) < 2 {
		f, _ := next(t, c2, "the messages sent from the other connection", func(f protocol.ServerFrame) bool {
			return f.Message != nil
		})
		live = append(live, f.Message.Seq)
	}
	if want := []int64{10, 11}; !slices.Equal(live, want) {
		t.Errorf("other connection: got seqs %v, want %v", live, want)
	}
}

func TestResumeWithMoreThanOneWelcome(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	sess := &client.Session{}
	c := s.dial(t, sess, nil)
	c.Close()

	// Fill the conversation directly in the store: 250 more than the welcome can carry.
	const total = 251 // the greeting and 250 more
	ctx := context.Background()
	for i := 2; i <= total; i++ {
		body, _ := json.Marshal(map[string]string{"text": fmt.Sprintf("note %d", i)})
		m, err := s.db.Append(ctx, store.Message{ConversationID: sess.ConversationID, ClientID: fmt.Sprintf("n%d", i),
			Role: store.RoleVisitor, Kind: store.KindMessage, Body: body, CreatedAt: time.Now()})
		if err != nil || m.Seq != int64(i) {
			t.Fatalf("Append %d: got seq %d, %v, want seq %d", i, m.Seq, err, i)
		}
	}

	sess.LastSeq = 0
	c = s.dial(t, sess, nil)
	w := c.Welcome
	if !w.More || len(w.Messages) != 200 {
		t.Fatalf("welcome: got %d messages more=%v, want 200 and more", len(w.Messages), w.More)
	}
	got := seqs(w.Messages)
	for {
		if err := c.Write(protocol.ClientFrame{Type: protocol.TypeSync, Seq: got[len(got)-1]}); err != nil {
			t.Fatal(err)
		}
		f, _ := next(t, c, "sync", func(f protocol.ServerFrame) bool { return f.Type == protocol.TypeSync })
		got = append(got, seqs(f.Messages)...)
		if !f.More {
			break
		}
	}
	if want := seqRange(1, total); !slices.Equal(got, want) {
		t.Errorf("seqs over welcome and sync: got %d (%v...), want 1..%d once each", len(got), got[:min(5, len(got))], total)
	}
}

func TestRestartKeepsConversation(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	sess := &client.Session{}
	c := s.dial(t, sess, acceptLanguage("fr"))
	for i, q := range []string{"Puis-je faire une escale de 144 heures en Chine sans visa ?", "Qu'est-ce que la carte cinq étoiles ?"} {
		_, ans := ask(t, c, fmt.Sprintf("r%d", i), q)
		sess.Observe(ans)
	}
	// The transcript as a second connection from seq 0 sees it.
	resumed := s.dial(t, &client.Session{ResumeToken: sess.ResumeToken}, nil)
	before := resumed.Welcome.Messages
	resumed.Close()
	if len(before) != 5 {
		t.Fatalf("transcript before restart: got %d messages, want 5", len(before))
	}

	s.stop()

	// The client is told why, in its language, then gets close code 1012.
	f, _ := next(t, c, "the restarting error", isError("restarting"))
	if want := catalog.T("fr", "ServerRestarting", nil); f.Error.Message != want {
		t.Errorf("restarting message: got %q, want %q", f.Error.Message, want)
	}
	_, err := c.Read()
	if code := closeCode(err); !errors.Is(err, client.ErrClosed) || code != 1012 {
		t.Fatalf("after restarting: got %v (close code %d), want client.ErrClosed with close code 1012", err, code)
	}

	s.start()
	sess.LastSeq = 0
	c = s.dial(t, sess, nil)
	w := c.Welcome
	if !w.Resumed || w.Lang != "fr" {
		t.Errorf("welcome after restart: got resumed=%v lang=%q, want resumed in fr", w.Resumed, w.Lang)
	}
	if len(w.Messages) != len(before) {
		t.Fatalf("transcript after restart: got %d messages, want %d", len(w.Messages), len(before))
	}
	for i, m := range w.Messages {
		if b := before[i]; m.Seq != b.Seq || m.Text != b.Text || m.From != b.From || m.Time != b.Time {
			t.Errorf("message %d after restart: got %d %s %q %s, want %d %s %q %s", i, m.Seq, m.From, m.Text, m.Time, b.Seq, b.From, b.Text, b.Time)
		}
	}
	ack, ans := ask(t, c, "r9", "Qu'est-ce qu'un visa au port d'entrée ?")
	if ack.Seq != 6 || ans.Message.Seq != 7 {
		t.Errorf("seqs after restart: got ack %d answer %d, want 6 and 7", ack.Seq, ans.Message.Seq)
	}
	if ans.Message.Lang != "fr" || ans.Message.Answer == nil || ans.Message.Answer.Handoff {
		t.Errorf("answer after restart: got lang %q answer %+v, want a French answer", ans.Message.Lang, ans.Message.Answer)
	}
}

// A question stored but not answered before a stop is answered by the next server.
func TestRestartAnswersUnansweredQuestion(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	sess := &client.Session{}
	c := s.dial(t, sess, acceptLanguage("es"))
	c.Close()
	s.stop()

	// What a crash between the ack and the answer leaves behind.
	db, err := store.Open(s.path)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"text": "¿Puedo hacer una escala de 144 horas en China sin visado?"})
	if _, err := db.Append(context.Background(), store.Message{ConversationID: sess.ConversationID, ClientID: "u1",
		Role: store.RoleVisitor, Kind: store.KindMessage, Body: body, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s.start()
	c = s.dial(t, sess, nil) // LastSeq 1: the greeting was seen
	var got []protocol.Message
	got = append(got, c.Welcome.Messages...)
	for len(got) < 2 {
		f, _ := next(t, c, "the answer to the question left unanswered", func(f protocol.ServerFrame) bool { return f.Message != nil })
		got = append(got, *f.Message)
	}
	if want := []int64{2, 3}; !slices.Equal(seqs(got), want) {
		t.Fatalf("seqs: got %v, want %v", seqs(got), want)
	}
	a := got[1]
	if a.From != protocol.FromBot || a.Lang != "es" || a.Answer == nil || a.Answer.FAQID != "transit-144h" {
		t.Errorf("answer: got from=%s lang=%s %+v, want the bot's Spanish answer transit-144h", a.From, a.Lang, a.Answer)
	}
}

func TestDuplicateClientID(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	sess := &client.Session{}
	c := s.dial(t, sess, acceptLanguage("en"))
	const q = "What is the five-star card?"

	ack1, ans := ask(t, c, "d1", q)
	if ack1.Duplicate {
		t.Errorf("first ack: got duplicate=true, want false")
	}
	sess.Observe(ans)

	// The same id again on the same connection: confirmed as a duplicate, not answered.
	if err := c.Send("d1", q); err != nil {
		t.Fatal(err)
	}
	ack2 := expectAck(t, c, "d1")
	if !ack2.Duplicate || ack2.Seq != ack1.Seq {
		t.Errorf("second ack: got seq=%d duplicate=%v, want seq=%d duplicate=true", ack2.Seq, ack2.Duplicate, ack1.Seq)
	}
	// The room runs a conversation's frames in order: whatever the duplicate caused has
	// arrived by the time the next message is answered, and it took no seq.
	ack3, ans3 := ask(t, c, "d2", "thank you")
	if want := ans.Message.Seq + 1; ack3.Seq != want || ans3.Message.Seq != want+1 {
		t.Errorf("next message: got ack seq %d answer seq %d, want %d and %d", ack3.Seq, ans3.Message.Seq, want, want+1)
	}
	c.Close()

	// And again after a reconnect.
	c = s.dial(t, sess, nil)
	if err := c.Send("d1", q); err != nil {
		t.Fatal(err)
	}
	ack4 := expectAck(t, c, "d1")
	if !ack4.Duplicate || ack4.Seq != ack1.Seq {
		t.Errorf("ack after reconnect: got seq=%d duplicate=%v, want seq=%d duplicate=true", ack4.Seq, ack4.Duplicate, ack1.Seq)
	}
	_, ans = ask(t, c, "d3", "goodbye")

	msgs, err := s.db.MessagesAfter(context.Background(), sess.ConversationID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var d1, botAfterD1 int
	for i, m := range msgs {
		if m.ClientID == "d1" {
			d1++
			if i+1 < len(msgs) && msgs[i+1].Role == store.RoleBot {
				botAfterD1++
			}
		}
	}
	// greeting, d1, answer, d2, answer, d3, answer
	if d1 != 1 || botAfterD1 != 1 || len(msgs) != 7 || ans.Message.Seq != 7 {
		t.Errorf("stored: got %d messages with id d1, %d bot replies to it, %d in all (last seq %d), want 1, 1, 7 (7)",
			d1, botAfterD1, len(msgs), ans.Message.Seq)
	}
}

// The ack says the message is stored; it comes before the answer, which may take the engine
// a while.
func TestAckBeforeAnswer(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	c := s.dial(t, &client.Session{}, acceptLanguage("en"))
	if err := c.Send("o1", "Can I transit through China for 144 hours without a visa?"); err != nil {
		t.Fatal(err)
	}
	var order []string
	for len(order) < 2 {
		f, _ := next(t, c, "the ack and the answer", func(f protocol.ServerFrame) bool {
			return f.Type == protocol.TypeAck || client.IsAnswer(f)
		})
		order = append(order, f.Type)
	}
	if want := []string{protocol.TypeAck, protocol.TypeMessage}; !slices.Equal(order, want) {
		t.Errorf("frames: got %v, want %v (the ack, then the bot's answer)", order, want)
	}
}

// A resume reads the conversation, then takes its room. When a room ended in between (its
// last user gone, maybe after changing the conversation), the new room reads the conversation
// again: the welcome tells what is true, not what was read before.
func TestResumeRereadsAfterARoomEnded(t *testing.T) {
	var hook atomic.Pointer[func()]
	s := startServerWith(t, testConfig(), nil, func(srv *server.Server) {
		srv.AfterTokenReadForTest(func() {
			if fn := hook.Load(); fn != nil {
				(*fn)()
			}
		})
	})
	sess := &client.Session{}
	c := s.dial(t, sess, nil)
	c.CloseNormal()
	deadline := time.Now().Add(waitTime)
	for s.srv.RoomsForTest() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the visitor's room did not end")
		}
		time.Sleep(5 * time.Millisecond)
	}
	change := func() {
		// As a room would, before it ended: the conversation closed.
		if err := s.db.SetState(context.Background(), sess.ConversationID, store.StateClosed, time.Now()); err != nil {
			t.Error(err)
		}
		s.srv.EndRoomForTest()
	}
	hook.Store(&change)
	again := s.dial(t, sess, nil)
	if again.Welcome.State != store.StateClosed {
		t.Errorf("welcome state: got %q, want %q (read again)", again.Welcome.State, store.StateClosed)
	}
}
