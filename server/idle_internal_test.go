package server

import (
	"bufio"
	"bytes"
	"testing"
)

// idle takes whole client pongs out of the read buffer and leaves anything else to gorilla.
func TestIdleTakesPongsOnly(t *testing.T) {
	pong := []byte{0x8A, 0x80, 1, 2, 3, 4}                       // masked, empty
	pongData := []byte{0x8A, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2} // masked, "hi"
	text := []byte{0x81, 0x81, 1, 2, 3, 4, 'x' ^ 1}              // a text frame
	for _, tt := range []struct {
		name     string
		in       []byte
		idle     bool
		leftover int // bytes left for gorilla
	}{
		{"nothing", nil, true, 0},
		{"a pong", pong, true, 0},
		{"two pongs", append(append([]byte{}, pong...), pongData...), true, 0},
		{"a pong, then text", append(append([]byte{}, pong...), text...), false, len(text)},
		{"text", text, false, len(text)},
		{"half a pong", pong[:3], false, 3},
		{"an unmasked pong", []byte{0x8A, 0x00}, false, 2},
		{"a ping", []byte{0x89, 0x80, 1, 2, 3, 4}, false, 6},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &client{br: bufio.NewReaderSize(bytes.NewReader(tt.in), readBufferSize)}
			_, _ = c.br.Peek(1) // what arrived, in the buffer
			if got := c.idle(); got != tt.idle {
				t.Errorf("idle: got %v, want %v", got, tt.idle)
			}
			if got := c.br.Buffered(); got != tt.leftover {
				t.Errorf("left in the buffer: got %d bytes, want %d", got, tt.leftover)
			}
			if len(tt.in) > 0 && tt.in[0] == 0x8A && tt.leftover < len(tt.in) && c.lastRead.Load() == 0 {
				t.Error("a pong taken did not count as heard from")
			}
		})
	}
}
