package console_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/hotline12367/hotline/protocol"
)

// TestScreenshots saves the console (queue, open conversation, suggestions, supervisor
// figures) in English and in Arabic under testout/ at the repository root, for a person to
// look at. It also checks the default language (the agent's first) and right-to-left Arabic.
func TestScreenshots(t *testing.T) {
	s := startServer(t)
	const pw = "correct horse battery"
	s.addAgent("Zhang Wei", pw, "supervisor", "zh", "en")
	s.addAgent("Li Na", pw, "agent", "fr", "en")

	en := s.visitor(t, "en")
	en.ask("q1", "How do I renew my five-star card?")
	en.handoff()
	ar := s.visitor(t, "ar")
	ar.ask("q1", "هل يمكنك حجز فندق لي في شنغهاي؟")
	ar.next("queued", isEvent(protocol.EventQueued))
	ru := s.visitor(t, "ru")
	ru.ask("q1", "Где купить сим-карту в аэропорту Пекина?")
	ru.next("queued", isEvent(protocol.EventQueued))
	fr := s.visitor(t, "fr")
	fr.ask("q1", "Pouvez-vous me réserver un hôtel à Pékin ?")
	fr.next("queued", isEvent(protocol.EventQueued))
	es := s.visitor(t, "es")
	if err := es.c.Write(protocol.ClientFrame{Type: protocol.TypeLeaveMessage, Text: "Necesito ayuda con mi visado de estudiante, por favor llámenme.", Contact: "+34 600 123 456"}); err != nil {
		t.Fatal(err)
	}
	es.next("message left", isEvent(protocol.EventMessageLeft))

	// Li Na, on a console of her own, takes the French conversation.
	cookie, _ := apiLogin(t, s, "Li Na", pw)
	ws, _ := dialAgent(t, s, cookieHeader(cookie))
	if err := ws.WriteJSON(protocol.AgentFrame{Type: protocol.AgentClaim, ConversationID: fr.id()}); err != nil {
		t.Fatal(err)
	}
	fr.next("agent joined", isEvent(protocol.EventAgentJoined))

	b := newBrowser(t)
	b.run("the login page", chromedp.Navigate(s.url()+"/console/login"), chromedp.WaitVisible(chromedp.ID("login-form")))
	shot(t, b, "console-login.png")
	b.login(s, "Zhang Wei", pw)
	if got := eval[string](b, `document.documentElement.lang`); got != "zh" {
		t.Errorf("console language: got %q, want zh (the agent's first language)", got)
	}
	setLang := func(lang, dir string) {
		eval[chromedp.Void](b, `(function(){const s=document.getElementById("console-lang"); s.value=`+js(lang)+`; s.dispatchEvent(new Event("change"));})()`)
		b.wait("the console in "+lang, `document.documentElement.lang === `+js(lang)+` && document.documentElement.dir === `+js(dir))
	}
	setLang("en", "ltr")

	b.wait("the queue", `document.querySelectorAll("#queue li").length === 3`)
	b.click("claim", queueItem(en.id())+" button.claim")
	b.waitTranscript("the history", "five-star card")
	b.wait("the suggestions", `document.querySelectorAll("#suggestions li").length > 0`)
	b.keys("#reply", "Hello, I am Zhang Wei. Your card can be renewed at the exit-entry office.\r")
	en.next("the reply", fromAgent)
	en.say("m1", "Thank you! Do I need to bring my passport?")
	b.waitTranscript("the visitor's question", "bring my passport")
	b.keys("#note", "Asked twice about renewal; check the office hours.")
	b.click("add note", "#add-note")
	b.wait("the note", `document.querySelectorAll("#notes li").length === 1`)
	if err := en.c.Write(protocol.ClientFrame{Type: protocol.TypeTyping, On: true}); err != nil {
		t.Fatal(err)
	}
	b.wait("the typing indicator", `!document.getElementById("typing").hidden`)
	b.wait("the supervisor's view", `!document.getElementById("stats-section").hidden && document.querySelectorAll("#all li").length === 2 && document.querySelectorAll("#left li").length === 1`)
	b.run("blur", chromedp.Blur(chromedp.ID("note")))
	// The suggestions and canned responses follow the console's language (the agent reads
	// both Chinese and English, and chose no reading language).
	b.wait("canned responses in English", `document.querySelector("#canned .canned-text").textContent === `+js(catalog.T("en", "CannedPleaseWait", nil)))
	if got := eval[string](b, `document.getElementById("read-lang").value`); got != "en" {
		t.Errorf("reading language: got %q, want en after the console switched to English", got)
	}
	eval[chromedp.Void](b, `document.getElementById("tools").scrollTop = 0`)
	shot(t, b, "console-en.png")

	setLang("ar", "rtl")
	b.wait("Arabic text", `document.getElementById("take-next").textContent === "استلام التالي"`)
	eval[chromedp.Void](b, `document.getElementById("tools").scrollTop = 0`)
	shot(t, b, "console-ar.png")

	// A supervisor opens a conversation another agent holds, and sees it live.
	b.click("Li Na's conversation", `#all li[data-id="`+fr.id()+`"] button`)
	b.waitTranscript("its history", "réserver un hôtel")
	fr.say("m1", "Merci beaucoup")
	b.waitTranscript("live", "Merci beaucoup")
}

// shot saves a screenshot of the page under testout/ at the repository root.
func shot(t *testing.T, b *browser, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitTime)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := filepath.Join("..", "..", "testout")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("saved %s", filepath.Join(dir, name))
}
