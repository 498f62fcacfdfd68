package console_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hotline12367/hotline/protocol"
)

// TestTransferAndClose: an agent transfers a conversation to a language group (it goes back
// to the queue in that language), then to another agent (whose console gets it), and closes
// another with a resolution; presence goes away and back.
func TestTransferAndClose(t *testing.T) {
	s := startServer(t)
	const pw = "correct horse battery"
	s.addAgent("Wang Li", pw, "agent", "en", "fr")
	liNa := s.addAgent("Li Na", pw, "agent", "fr", "en")

	v := s.visitor(t, "en")
	v.ask("q1", "Can you book me a hotel in Shanghai?")
	v.next("queued", isEvent(protocol.EventQueued))

	// Li Na is online on a console of her own.
	cookie, _ := apiLogin(t, s, "Li Na", pw)
	ws, _ := dialAgent(t, s, cookieHeader(cookie))
	ws.SetReadDeadline(time.Now().Add(3 * waitTime))
	liNaHas := func(id string) {
		t.Helper()
		for {
			var f protocol.ConsoleFrame
			if err := ws.ReadJSON(&f); err != nil {
				t.Fatalf("Li Na's console: %v", err)
			}
			if f.Type != "state" {
				continue
			}
			for _, c := range f.State.Mine {
				if c.ID == id {
					return
				}
			}
		}
	}

	b := newBrowser(t)
	b.login(s, "Wang Li", pw)
	b.click("claim", queueItem(v.id())+" button.claim")
	b.waitTranscript("the history", "book me a hotel")

	// To the French group: back in the queue, in French.
	eval[bool](b, `(function(){const s=document.getElementById("transfer-to"); s.value="lang:fr"; return s.value === "lang:fr"})()`)
	b.click("transfer", "#transfer")
	v.next("queued again", isEvent(protocol.EventQueued))
	b.wait("back in the queue, in French", `!!document.querySelector(`+js(queueItem(v.id()))+`) && document.querySelector(`+js(queueItem(v.id())+" .lang-badge")+`).textContent === "FR"`)
	if got := eval[string](b, `document.querySelector(`+js(queueItem(v.id())+" .question")+`).textContent`); got != "Can you book me a hotel in Shanghai?" {
		t.Errorf("question of the transferred conversation: got %q, want the visitor's", got)
	}
	b.wait("no longer mine", `document.querySelectorAll("#mine li").length === 0 && !document.getElementById("conv-ended").hidden`)

	// Claim it again and give it to Li Na.
	b.click("claim again", queueItem(v.id())+" button.claim")
	v.next("agent joined", isEvent(protocol.EventAgentJoined))
	b.wait("held again", `!document.getElementById("reply").disabled`)
	b.wait("Li Na in the transfer list", `!!document.querySelector('#transfer-to option[value="agent:`+liNa+`"]:not([disabled])')`)
	eval[bool](b, `(function(){const s=document.getElementById("transfer-to"); s.value="agent:`+liNa+`"; return true})()`)
	b.click("transfer", "#transfer")
	f, _ := v.next("Li Na joined", isEvent(protocol.EventAgentJoined))
	if f.Message.Agent != "Li Na" {
		t.Errorf("agent joined: got %q, want Li Na", f.Message.Agent)
	}
	liNaHas(v.id())
	b.wait("shown as no longer mine", `document.querySelectorAll("#mine li").length === 0 && !document.getElementById("conv-ended").hidden && document.getElementById("reply").disabled`)

	// Close another conversation with a resolution.
	w := s.visitor(t, "en")
	w.ask("q1", "Can you recommend a restaurant in Beijing?")
	w.next("queued", isEvent(protocol.EventQueued))
	b.click("claim", queueItem(w.id())+" button.claim")
	b.wait("the new conversation on screen", `document.getElementById("conv-title").textContent.includes(`+js(w.id()[:8])+`) && !document.getElementById("reply").disabled`)
	eval[bool](b, `(function(){const s=document.getElementById("resolution"); s.value="out_of_scope"; return true})()`)
	b.click("close", "#close")
	w.next("closed", isEvent(protocol.EventClosed))
	b.wait("shown as closed", `!document.getElementById("conv-ended").hidden && document.getElementById("conv-ended").textContent.includes("closed")`)
	b.click("dismiss", "#dismiss")
	b.wait("no conversation on screen", `document.getElementById("conv").hidden && !document.getElementById("no-conversation").hidden`)

	// Away, and back.
	eval[bool](b, `(function(){const s=document.getElementById("presence"); s.value="away"; s.dispatchEvent(new Event("change")); return true})()`)
	b.wait("away", `document.getElementById("presence").dataset.status === "away"`)
	eval[bool](b, `(function(){const s=document.getElementById("presence"); s.value="online"; s.dispatchEvent(new Event("change")); return true})()`)
	b.wait("online", `document.getElementById("presence").dataset.status === "online"`)

	// Sign out: back to the login page, and the console is closed again.
	b.click("sign out", "#logout")
	b.wait("the login page", `location.pathname === "/console/login" && !!document.getElementById("login-form")`)
	b.run("open the console again", chromedp.Navigate(s.url()+"/console/"))
	b.wait("sent to the login page", `location.pathname === "/console/login"`)
}
