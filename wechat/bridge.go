package wechat

import (
	"context"
	"errors"
	"fmt"
)

// Sender adapts a Client to hotline's channel interface (server.ChannelSender).
type Sender struct{ *Client }

// Refusal says why err means a message must not be sent again: "outside_window" (45015, the
// user last wrote more than 48 hours ago), "quota_exceeded" (45047), "wechat_<code>" for other
// errcodes WeChat returned; "" when a retry may succeed (a network error).
func (s Sender) Refusal(err error) string {
	switch {
	case errors.Is(err, ErrOutsideWindow):
		return "outside_window"
	case errors.Is(err, ErrQuotaExceeded):
		return "quota_exceeded"
	}
	var ae *APIError
	if errors.As(err, &ae) && ae.Code != -1 && ae.Code != 45009 {
		return fmt.Sprintf("wechat_%d", ae.Code)
	}
	return ""
}

// Kinds of inbound message Bridge passes on, as server.ChannelMessage takes them.
const (
	KindText  = "text"
	KindOther = "other"
	KindEnter = "enter"
)

// Bridge turns pushes into calls of deliver (server.ChannelMessage for the "wechat" channel):
// text messages as they are, images and mini-program cards as something the bot cannot read,
// the user entering the customer-service session as a greeting cue. Other events are ignored.
func Bridge(deliver func(ctx context.Context, userID, msgID, kind, text string) error) func(ctx context.Context, m Message) {
	return func(ctx context.Context, m Message) {
		var kind string
		switch {
		case m.MsgType == MsgTypeText:
			kind = KindText
		case m.MsgType == MsgTypeImage || m.MsgType == MsgTypeMiniProgramPage:
			kind = KindOther
		case m.MsgType == MsgTypeEvent && m.Event == EventUserEnterTempSession:
			kind = KindEnter
		default:
			return
		}
		_ = deliver(ctx, m.FromUserName, m.DedupKey(), kind, m.Content)
	}
}
