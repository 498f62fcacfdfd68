package server_test

import (
	"testing"

	"github.com/hotline12367/hotline/client"
	"github.com/hotline12367/hotline/protocol"
	"github.com/hotline12367/hotline/store"
)

func TestLanguageSwitch(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	sess := &client.Session{}
	c := s.dial(t, sess, acceptLanguage("en"))
	const english = "Can I transit through China for 144 hours without a visa?"
	seq := c.Welcome.Seq

	switchTo := func(t *testing.T, tag string) protocol.Message {
		t.Helper()
		if err := c.Write(protocol.ClientFrame{Type: protocol.TypeLang, Lang: tag}); err != nil {
			t.Fatal(err)
		}
		f, _ := next(t, c, "the language event", isEvent(protocol.EventLanguage))
		seq++
		if f.Message.Seq != seq || f.Message.Kind != store.KindEvent || f.Message.From != protocol.FromSystem {
			t.Errorf("event: got seq=%d kind=%s from=%s, want seq=%d kind=event from=system", f.Message.Seq, f.Message.Kind, f.Message.From, seq)
		}
		return *f.Message
	}
	askIn := func(t *testing.T, id, text, wantLang string) {
		t.Helper()
		_, ans := ask(t, c, id, text)
		seq += 2
		if m := ans.Message; m.Lang != wantLang || m.Text != answerText(t, "transit-144h", wantLang) {
			t.Errorf("answer: got %s %q, want the %s answer", m.Lang, m.Text, wantLang)
		}
	}

	t.Run("to Arabic", func(t *testing.T) {
		m := switchTo(t, "ar")
		if want := catalog.T("ar", "LanguageChanged", nil); m.Lang != "ar" || m.Text != want {
			t.Errorf("event: got %s %q, want ar %q", m.Lang, m.Text, want)
		}
		askIn(t, "q1", english, "ar")
		// Errors follow the conversation's language too.
		if err := c.Send("e1", " "); err != nil {
			t.Fatal(err)
		}
		f, _ := next(t, c, "error empty", isError("empty"))
		if want := catalog.T("ar", "ErrEmpty", nil); f.Error.Message != want {
			t.Errorf("error: got %q, want the Arabic %q", f.Error.Message, want)
		}
		// A new connection of the conversation keeps the choice.
		again := s.dial(t, &client.Session{ResumeToken: sess.ResumeToken, LastSeq: seq}, nil)
		if w := again.Welcome; w.Lang != "ar" || !w.LangChosen {
			t.Errorf("welcome: got lang %q chosen=%v, want ar chosen", w.Lang, w.LangChosen)
		}
		again.Close()
	})

	t.Run("auto", func(t *testing.T) {
		m := switchTo(t, "auto")
		if m.Lang != "ar" {
			t.Errorf("event: got lang %q, want ar until the visitor writes", m.Lang)
		}
		askIn(t, "q2", english, "en")
		askIn(t, "q3", "¿Puedo hacer una escala de 144 horas en China sin visado?", "es")
	})

	t.Run("regional tag", func(t *testing.T) {
		m := switchTo(t, "fr-CA")
		if want := catalog.T("fr", "LanguageChanged", nil); m.Lang != "fr" || m.Text != want {
			t.Errorf("event: got %s %q, want fr %q", m.Lang, m.Text, want)
		}
		askIn(t, "q4", "¿Puedo hacer una escala de 144 horas en China sin visado?", "fr")
	})
}
