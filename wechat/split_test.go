package wechat

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplitText(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		limit int
		want  []string
	}{
		{"short", "hello", 10, []string{"hello"}},
		{"exact", "0123456789", 10, []string{"0123456789"}},
		{"blank", " \n\t ", 10, nil},
		{"empty", "", 10, nil},
		{"trimmed", "  hi  ", 10, []string{"hi"}},
		{"paragraph", "aaaa bbbb.\n\ncccc", 14, []string{"aaaa bbbb.", "cccc"}},
		{"line", "aaaa bbbb\ncccc dddd", 14, []string{"aaaa bbbb", "cccc dddd"}},
		{"sentence", "One two. Three four", 14, []string{"One two.", "Three four"}},
		{"no sentence inside a number", "Pi is 3.14159 ok", 14, []string{"Pi is 3.14159", "ok"}},
		{"number at the cut", "Pi is 3.1415926 ok", 12, []string{"Pi is", "3.1415926 ok"}},
		{"chinese sentence", "你好。请问退货", 18, []string{"你好。", "请问退货"}},
		{"chinese comma", "第一部分，第二部分", 18, []string{"第一部分，", "第二部分"}},
		{"space", "alpha beta gamma", 12, []string{"alpha beta", "gamma"}},
		{"word longer than limit", "abcdefghijklmnop", 5, []string{"abcde", "fghij", "klmno", "p"}},
		{"never inside a rune", "你好世界", 5, []string{"你", "好", "世", "界"}},
		{"emoji", "😀😀😀", 5, []string{"😀", "😀", "😀"}},
		{"limit below a rune", "😀😀", 1, []string{"😀", "😀"}},
		{"too early a break is ignored", "a\nbcdefghijklmnop", 10, []string{"a\nbcdefghi", "jklmnop"}},
		{"invalid byte between runes", "😀\xff😀", 1, []string{"😀", "\xff", "😀"}},
		{"invalid utf-8 kept", "ab\xff\xfe\xfdcdefgh", 4, []string{"ab\xff\xfe", "\xfdcde", "fgh"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SplitText(tt.text, tt.limit)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzSplitText(f *testing.F) {
	f.Add("您好，这是关于退货政策的详细说明。退货需要在收到商品后七天内申请！", 10)
	f.Add("a b c. d\n\ne", 4)
	f.Add("😀\xff😀", 5)
	f.Fuzz(func(t *testing.T, text string, limit int) {
		limit = limit%4096 + 1
		if limit < 0 {
			limit = -limit
		}
		parts := SplitText(text, limit)
		var joined strings.Builder
		for _, p := range parts {
			if len(p) > max(limit, utf8.UTFMax) {
				t.Fatalf("got a part of %d bytes, limit %d", len(p), limit)
			}
			if p == "" || strings.TrimSpace(p) != p && utf8.ValidString(p) {
				t.Fatalf("got part %q, want non-empty and trimmed", p)
			}
			if utf8.ValidString(text) && !utf8.ValidString(p) {
				t.Fatalf("got part %q cut inside a rune", p)
			}
			joined.WriteString(p)
		}
		strip := func(s string) string { return strings.Join(strings.Fields(s), "") }
		if strip(joined.String()) != strip(text) {
			t.Fatalf("parts %q do not add up to %q", parts, text)
		}
	})
}
