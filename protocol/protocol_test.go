package protocol_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/hotline12367/hotline/protocol"
)

func TestDecode(t *testing.T) {
	yes := true
	tests := []struct {
		name    string
		in      string
		want    protocol.ClientFrame // checked when wantErr is nil
		wantErr error
	}{
		{"hello", `{"type":"hello"}`, protocol.ClientFrame{Type: "hello"}, nil},
		{"hello resuming", `{"type":"hello","resume_token":"ABC","last_seq":7,"lang":"fr"}`,
			protocol.ClientFrame{Type: "hello", ResumeToken: "ABC", LastSeq: 7, Lang: "fr"}, nil},
		{"message", `{"type":"message","id":"m1","text":"hi"}`, protocol.ClientFrame{Type: "message", ID: "m1", Text: "hi"}, nil},
		{"message with empty text", `{"type":"message","id":"m1","text":""}`, protocol.ClientFrame{Type: "message", ID: "m1"}, nil},
		{"message id of 64 bytes", `{"type":"message","id":"` + strings.Repeat("x", 64) + `"}`,
			protocol.ClientFrame{Type: "message", ID: strings.Repeat("x", 64)}, nil},
		{"message id of 65 bytes", `{"type":"message","id":"` + strings.Repeat("x", 65) + `"}`, protocol.ClientFrame{}, protocol.ErrBadField},
		{"message without id", `{"type":"message","text":"hi"}`, protocol.ClientFrame{}, protocol.ErrBadField},
		{"lang", `{"type":"lang","lang":"auto"}`, protocol.ClientFrame{Type: "lang", Lang: "auto"}, nil},
		{"lang without lang", `{"type":"lang"}`, protocol.ClientFrame{}, protocol.ErrBadField},
		{"typing", `{"type":"typing","on":true}`, protocol.ClientFrame{Type: "typing", On: true}, nil},
		{"feedback", `{"type":"feedback","seq":3,"helpful":true}`, protocol.ClientFrame{Type: "feedback", Seq: 3, Helpful: &yes}, nil},
		{"feedback without verdict", `{"type":"feedback","seq":3}`, protocol.ClientFrame{}, protocol.ErrBadField},
		{"feedback on seq 0", `{"type":"feedback","seq":0,"helpful":false}`, protocol.ClientFrame{}, protocol.ErrBadField},
		{"feedback on a negative seq", `{"type":"feedback","seq":-3,"helpful":false}`, protocol.ClientFrame{}, protocol.ErrBadField},
		{"sync", `{"type":"sync","seq":200}`, protocol.ClientFrame{Type: "sync", Seq: 200}, nil},
		{"sync with a negative seq", `{"type":"sync","seq":-1}`, protocol.ClientFrame{}, protocol.ErrBadField},
		{"hello with a negative last_seq", `{"type":"hello","last_seq":-1}`, protocol.ClientFrame{}, protocol.ErrBadField},
		{"unknown fields are ignored", `{"type":"hello","x":1}`, protocol.ClientFrame{Type: "hello"}, nil},
		{"no type", `{"id":"m1"}`, protocol.ClientFrame{}, protocol.ErrBadField},
		{"null", `null`, protocol.ClientFrame{}, protocol.ErrBadField},
		{"unknown type", `{"type":"welcome"}`, protocol.ClientFrame{}, protocol.ErrUnknownType},
		{"type in capitals", `{"type":"HELLO"}`, protocol.ClientFrame{}, protocol.ErrUnknownType},
		{"empty", ``, protocol.ClientFrame{}, protocol.ErrBadJSON},
		{"truncated", `{"type":"hello"`, protocol.ClientFrame{}, protocol.ErrBadJSON},
		{"array", `[{"type":"hello"}]`, protocol.ClientFrame{}, protocol.ErrBadJSON},
		{"string", `"hello"`, protocol.ClientFrame{}, protocol.ErrBadJSON},
		{"seq not a number", `{"type":"sync","seq":"1"}`, protocol.ClientFrame{}, protocol.ErrBadJSON},
		{"seq a fraction", `{"type":"sync","seq":1.5}`, protocol.ClientFrame{}, protocol.ErrBadJSON},
		{"seq too big", `{"type":"sync","seq":99999999999999999999}`, protocol.ClientFrame{}, protocol.ErrBadJSON},
		{"helpful not a bool", `{"type":"feedback","seq":1,"helpful":"yes"}`, protocol.ClientFrame{}, protocol.ErrBadJSON},
		{"trailing garbage", `{"type":"hello"} x`, protocol.ClientFrame{}, protocol.ErrBadJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := protocol.Decode([]byte(tt.in))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Decode(%s): got error %v, want %v", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode(%s): got error %v, want none", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decode(%s):\ngot  %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

// The errors are distinct: a caller maps each to its own protocol error code.
func TestDecodeErrorsDistinct(t *testing.T) {
	errs := []error{protocol.ErrBadJSON, protocol.ErrUnknownType, protocol.ErrBadField}
	for i, a := range errs {
		for j, b := range errs {
			if i != j && errors.Is(a, b) {
				t.Errorf("errors.Is(%v, %v): got true, want false", a, b)
			}
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"type":"hello"}`,
		`{"type":"hello","resume_token":"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567","last_seq":12,"lang":"zh-TW"}`,
		`{"type":"message","id":"m1","text":"Can I transit through China for 144 hours without a visa?"}`,
		`{"type":"message","id":"m2","text":"外国人过境中国可以免签停留多少小时？"}`,
		`{"type":"message","id":"m3","text":"كم ساعة يمكنني البقاء في الصين للعبور بدون تأشيرة؟"}`,
		`{"type":"lang","lang":"auto"}`,
		`{"type":"typing","on":true}`,
		`{"type":"feedback","seq":3,"helpful":false}`,
		`{"type":"sync","seq":200}`,
		`{"type":"message","id":"\ud83d\ude00","text":"\u0000\u2028"}`,
		`{"Type":"hello","type":"message","id":"x"}`,
		"{\"type\":\"message\",\"id\":\"\xff\xfe\",\"text\":\"\xc3\"}",
		`{"type":"sync","seq":-1}`,
		`{"type":"feedback","seq":1e3,"helpful":true}`,
		`null`,
		`[]`,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := protocol.Decode(b)
		if err != nil {
			if !errors.Is(err, protocol.ErrBadJSON) && !errors.Is(err, protocol.ErrUnknownType) && !errors.Is(err, protocol.ErrBadField) {
				t.Fatalf("Decode(%q): got error %v, want one of the package's errors", b, err)
			}
			return
		}
		// A frame Decode accepts re-encodes, and the encoding decodes to the same frame.
		enc, err := json.Marshal(fr)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", fr, err)
		}
		again, err := protocol.Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Marshal(Decode(%q))) = Decode(%s): got error %v, want none", b, enc, err)
		}
		if !reflect.DeepEqual(again, fr) {
			t.Fatalf("round trip of %q:\ngot  %+v\nwant %+v", b, again, fr)
		}
	})
}
