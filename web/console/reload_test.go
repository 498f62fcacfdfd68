package console_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/hotline12367/hotline/protocol"
)

// TestReload: reloading the console mid-conversation brings back the queue, the conversation
// on screen and its whole history, and the conversation stays live.
func TestReload(t *testing.T) {
	s := startServer(t)
	s.addAgent("Wang Li", "correct horse battery", "agent", "en")

	a := s.visitor(t, "en")
	a.ask("q1", "Can you book me a hotel in Shanghai?")
	a.next("queued", isEvent(protocol.EventQueued))
	w := s.visitor(t, "en")
	w.ask("q1", "Can you recommend a good restaurant in Beijing?")
	w.next("queued", isEvent(protocol.EventQueued))

	b := newBrowser(t)
	b.login(s, "Wang Li", "correct horse battery")
	b.wait("both in the queue", `document.querySelectorAll("#queue li").length === 2`)
	b.click("claim", queueItem(a.id())+" button.claim")
	b.waitTranscript("the history", "book me a hotel")
	b.keys("#reply", "Hello, I will look into it.\r")
	a.next("the reply", fromAgent)
	a.say("m1", "Thank you, I will wait.")
	b.waitTranscript("the visitor's answer", "I will wait")
	b.keys("#note", "Visitor wants a hotel booking")
	b.click("add note", "#add-note")
	b.wait("the note", `document.getElementById("notes").textContent.includes("hotel booking")`)
	b.keys("#reply", "A draft not sent yet")

	b.run("reload", chromedp.Reload())
	b.waitConsole()
	b.wait("the conversation back on screen", `!document.getElementById("conv").hidden && document.getElementById("conv-title").textContent.includes(`+js(a.id()[:8])+`)`)
	b.waitTranscript("the history back", "I will wait")
	tr := b.transcript()
	for _, want := range []string{"Can you book me a hotel in Shanghai?", "Hello, I will look into it.", "Wang Li has joined"} {
		if !strings.Contains(tr, want) {
			t.Errorf("transcript after reload: want %q in\n%s", want, tr)
		}
	}
	b.wait("the queue back", `document.querySelectorAll("#queue li").length === 1 && !!document.querySelector(`+js(queueItem(w.id()))+`)`)
	b.wait("my conversations back", `document.querySelectorAll("#mine li").length === 1`)
	b.wait("the notes back", `document.getElementById("notes").textContent.includes("hotel booking")`)
	if got := eval[string](b, `document.getElementById("reply").value`); got != "A draft not sent yet" {
		t.Errorf("draft after reload: got %q, want it kept", got)
	}
	if got := eval[string](b, `document.getElementById("capacity").textContent`); got != "Chats: 1 / 3" {
		t.Errorf("capacity: got %q, want Chats: 1 / 3", got)
	}

	// Still live both ways.
	a.say("m2", "Are you still there?")
	b.waitTranscript("a live message after the reload", "Are you still there?")
	eval[chromedp.Void](b, `document.getElementById("reply").value = ""`)
	b.keys("#reply", "Yes, still here.\r")
	f, _ := a.next("the reply after the reload", fromAgent)
	if f.Message.Text != "Yes, still here." {
		t.Errorf("visitor got %q, want the reply", f.Message.Text)
	}
}

// TestServerRestart: the server goes away under an open console and comes back; the
// console reconnects by itself and shows the same conversation, still live.
func TestServerRestart(t *testing.T) {
	s := startServer(t)
	s.addAgent("Wang Li", "correct horse battery", "agent", "en")
	a := s.visitor(t, "en")
	a.ask("q1", "Can you book me a hotel in Shanghai?")
	a.next("queued", isEvent(protocol.EventQueued))

	b := newBrowser(t)
	b.login(s, "Wang Li", "correct horse battery")
	b.click("claim", queueItem(a.id())+" button.claim")
	b.waitTranscript("the history", "book me a hotel")

	s.restart()
	b.wait("the console noticed", `document.getElementById("conn").dataset.status !== "online"`)
	b.waitConsole()
	b.wait("the conversation back", `document.querySelectorAll("#mine li").length === 1 && !document.getElementById("reply").disabled`)
	b.waitTranscript("the history back", "book me a hotel")

	// The visitor comes back too (their connection ended with the old server).
	back := s.resume(t, a)
	back.say("m1", "Hello again after the restart")
	b.waitTranscript("a live message", "Hello again after the restart")
	b.keys("#reply", "Welcome back.\r")
	if f, _ := back.next("the reply", fromAgent); f.Message.Text != "Welcome back." {
		t.Errorf("visitor got %q, want the reply", f.Message.Text)
	}
}
