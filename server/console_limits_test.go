package server_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hotline12367/hotline/client"
	"github.com/hotline12367/hotline/protocol"
	"github.com/hotline12367/hotline/server"
)

// Blank texts get empty, on both sides; an oversized console frame gets too_long and 1009, as
// on /ws.
func TestBlankTextsAndOversizedConsoleFrames(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	s.addAgent(t, "a1", "ann", "agent", "en")

	v := s.dial(t, &client.Session{}, acceptLanguage("en"))
	if err := v.Write(protocol.ClientFrame{Type: protocol.TypeLeaveMessage, ID: "l1", Text: " \n\t ", Contact: "me@example.com"}); err != nil {
		t.Fatal(err)
	}
	f, _ := next(t, v, "the error", func(f protocol.ServerFrame) bool { return f.Type == protocol.TypeError })
	if f.Error.Code != server.CodeEmpty || f.Error.Ref != "l1" {
		t.Errorf("blank leave_message: got %s, want empty for l1", describe([]protocol.ServerFrame{f}))
	}

	_, cookie, _ := s.login(t, "ann", agentPassword)
	a, _, err := s.dialAgent(t, cookie, "")
	if err != nil {
		t.Fatal(err)
	}
	isError := func(f protocol.ConsoleFrame) bool { return f.Type == "error" }
	for _, typ := range []string{protocol.AgentReply, protocol.AgentNote} {
		a.send(protocol.AgentFrame{Type: typ, ConversationID: v.Welcome.ConversationID, ID: "r-" + typ, Text: "   "})
		if f := a.until("the error", isError); f.Error.Code != server.CodeEmpty || f.Error.Ref != "r-"+typ {
			t.Errorf("blank %s: got %+v, want empty for r-%s", typ, f.Error, typ)
		}
	}

	big := `{"type":"note","conversation_id":"x","text":"` + strings.Repeat("a", 10000) + `"}`
	if err := a.ws.WriteMessage(websocket.TextMessage, []byte(big)); err != nil {
		t.Fatal(err)
	}
	if f := a.until("too_long", isError); f.Error.Code != server.CodeTooLong {
		t.Errorf("oversized frame: got %+v, want too_long", f.Error)
	}
	a.ws.SetReadDeadline(time.Now().Add(waitTime))
	for {
		_, _, err := a.ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code != websocket.CloseMessageTooBig {
				t.Errorf("oversized frame: closed with %d, want 1009", ce.Code)
			}
			break
		}
		if err != nil {
			t.Fatalf("oversized frame: %v, want a close frame", err)
		}
	}
}
