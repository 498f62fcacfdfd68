package console_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hotline12367/hotline/protocol"
)

// TestEndToEnd follows one conversation through the console: the bot cannot answer, the
// visitor waits in the queue, an agent signs in through the login page, claims it, reads the
// bot's transcript, replies (with typing indicators both ways) and hands back to the bot,
// which answers the next question again.
func TestEndToEnd(t *testing.T) {
	s := startServer(t)
	s.addAgent("Wang Li", "correct horse battery", "agent", "en", "zh")

	v := s.visitor(t, "en")
	faq := v.ask("q1", "What is the 144-hour visa-free transit policy?")
	if faq.Answer == nil || faq.Answer.FAQID != "transit-144h" {
		t.Fatalf("first answer: got %+v, want transit-144h", faq.Answer)
	}
	const question = "Can you book me a hotel in Shanghai?"
	handoff := v.ask("q2", question)
	if handoff.Answer == nil || !handoff.Answer.Handoff {
		t.Fatalf("hotel question: got answer %+v, want a handoff", handoff.Answer)
	}
	v.next("queued", isEvent(protocol.EventQueued))

	b := newBrowser(t)
	b.login(s, "Wang Li", "correct horse battery")

	// The queue shows the question, language, channel and reason.
	b.wait("the conversation in the queue", `!!document.querySelector(`+js(queueItem(v.id()))+`)`)
	item := eval[string](b, `document.querySelector(`+js(queueItem(v.id()))+`).textContent`)
	for _, want := range []string{question, "EN", "Website"} {
		if !strings.Contains(item, want) {
			t.Errorf("queue item %q: want it to contain %q", item, want)
		}
	}

	b.click("claim", queueItem(v.id())+" button.claim")
	v.next("agent joined", isEvent(protocol.EventAgentJoined))
	b.waitTranscript("the bot's handoff message", handoff.Text)
	tr := b.transcript()
	for _, want := range []string{question, faq.Text, "FAQ transit-144h", fmt.Sprintf("Confidence %.2f", faq.Answer.Confidence), "Detected language: English", "Wang Li has joined"} {
		if !strings.Contains(tr, want) {
			t.Errorf("transcript: want it to contain %q; got:\n%s", want, tr)
		}
	}

	// Typing: the agent's keystrokes reach the visitor as typing frames, the visitor's
	// reach the console.
	const reply = "Hello, I am Wang Li. I cannot book hotels, but I can tell you about visas."
	b.keys("#reply", reply)
	f, _ := v.next("agent typing", func(f protocol.ServerFrame) bool { return f.Type == protocol.TypeTyping })
	if f.From != protocol.FromAgent || f.On == nil || !*f.On {
		t.Errorf("typing frame: got from %q on %v, want from agent, on", f.From, f.On)
	}
	if err := v.c.Write(protocol.ClientFrame{Type: protocol.TypeTyping, On: true}); err != nil {
		t.Fatal(err)
	}
	b.wait("the visitor's typing indicator", `!document.getElementById("typing").hidden`)

	b.keys("#reply", "\r")
	got, _ := v.next("the agent's reply", fromAgent)
	if got.Message.Text != reply || got.Message.From != protocol.FromAgent {
		t.Errorf("visitor got %q from %q, want %q from agent", got.Message.Text, got.Message.From, reply)
	}
	b.wait("the reply stored", `!document.querySelector("#transcript li.pending") && Array.from(document.querySelectorAll("#transcript li.from-agent")).some(li => li.textContent.includes(`+js(reply)+`))`)

	// The visitor writes; the console shows it live.
	v.say("m1", "Thank you. Which cities allow the 144-hour transit?")
	b.waitTranscript("the visitor's message live", "Which cities allow")

	// A canned response, in the visitor's language.
	b.click("a canned response", `#canned li[data-canned="CannedPleaseWait"] button.send-canned`)
	canned, _ := v.next("the canned response", fromAgent)
	if want := catalog.T("en", "CannedPleaseWait", nil); canned.Message.Text != want {
		t.Errorf("canned response: got %q, want %q", canned.Message.Text, want)
	}

	// Hand back: the bot answers again.
	b.click("hand back", "#handback")
	v.next("agent left", isEvent(protocol.EventAgentLeft))
	again := v.ask("q3", "What is the 144-hour visa-free transit policy?")
	if again.From != protocol.FromBot || again.Answer == nil || again.Answer.FAQID != "transit-144h" {
		t.Errorf("after hand back: got %+v from %q, want the bot's transit-144h answer", again.Answer, again.From)
	}
	b.wait("the conversation shown as handed back", `!document.getElementById("conv-ended").hidden && document.getElementById("reply").disabled`)
	b.wait("my conversations empty", `document.querySelectorAll("#mine li").length === 0`)
}

// TestSuggestedAnswerInVisitorLanguage: an agent who reads English picks a suggested FAQ
// answer for an Arabic visitor; the visitor receives that entry's vetted Arabic answer.
func TestSuggestedAnswerInVisitorLanguage(t *testing.T) {
	s := startServer(t)
	s.addAgent("Li Na", "correct horse battery", "agent", "en")

	v := s.visitor(t, "ar")
	ans := v.ask("q1", "ما هي سياسة العبور بدون تأشيرة لمدة 144 ساعة؟")
	if ans.Lang != "ar" || ans.Answer == nil || ans.Answer.FAQID != "transit-144h" {
		t.Fatalf("Arabic question: got lang %q answer %+v, want ar and transit-144h", ans.Lang, ans.Answer)
	}
	v.handoff()

	b := newBrowser(t)
	b.login(s, "Li Na", "correct horse battery")
	b.wait("the Arabic conversation in the queue", `!!document.querySelector(`+js(queueItem(v.id()))+`)`)
	b.click("take next", "#take-next")
	v.next("agent joined", isEvent(protocol.EventAgentJoined))

	// Suggestions come by themselves when the conversation opens; the reading language is
	// the agent's (English).
	en := engine.Entry("transit-144h")
	card := `#suggestions li[data-faq="transit-144h"]`
	b.wait("the suggestion", `!!document.querySelector(`+js(card)+`)`)
	if got := eval[string](b, `document.getElementById("read-lang").value`); got != "en" {
		t.Errorf("reading language: got %q, want en", got)
	}
	if got := eval[string](b, `document.querySelector(`+js(card+" .sq")+`).textContent`); got != en.Text["en"].Q {
		t.Errorf("suggested question: got %q, want the English question %q", got, en.Text["en"].Q)
	}
	if got := eval[string](b, `document.querySelector(`+js(card+" .sa")+`).textContent`); got != en.Text["en"].A {
		t.Errorf("suggested answer: got %q, want the English answer", got)
	}
	if got := eval[string](b, `document.querySelector(`+js(card+" .preview")+`).textContent`); got != en.Text["ar"].A {
		t.Errorf("preview of what the visitor gets: got %q, want the Arabic answer %q", got, en.Text["ar"].A)
	}

	b.click("send this answer", card+" button.send-faq")
	f, _ := v.next("the suggested answer", fromAgent)
	m := f.Message
	if m.Lang != "ar" || m.Text != en.Text["ar"].A {
		t.Errorf("visitor got lang %q text %q, want ar and %q", m.Lang, m.Text, en.Text["ar"].A)
	}
	if m.Answer == nil || m.Answer.FAQID != "transit-144h" {
		t.Errorf("visitor's message answer: got %+v, want faq_id transit-144h", m.Answer)
	}
	// The console shows the message as sent, with the entry behind it.
	b.wait("the sent answer in the transcript", `Array.from(document.querySelectorAll("#transcript li.from-agent")).some(li => !li.classList.contains("pending") && li.textContent.includes("FAQ transit-144h"))`)
}
