package wechat

import (
	"bytes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// The vectors of WeChat's message-push documentation, from
// /work/shared/wechat/test-vectors.md.
const (
	vecToken  = "AAAAA"
	vecAESKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	vecAppID  = "wxba5fad812f8e6fb9"

	vecSafeEncrypt = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04="
	vecSafeMessage = `{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714112445,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}`

	vecReplyRandom  = "707722b803182950"
	vecReplyMessage = `{"demo_resp":"good luck"}`
	vecReplyEncrypt = "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ=="
)

func TestSignature(t *testing.T) {
	tests := []struct {
		name  string
		parts []string
		want  string
	}{
		{"url verification", []string{vecToken, "1714036504", "1514711492"}, "f464b24fc39322e44b38aa78f5edd27bd1441696"},
		{"plain post", []string{vecToken, "1714037059", "486452656"}, "899cf89e464efb63f54ddac96b0a0a235f53aa78"},
		{"safe post signature", []string{vecToken, "1714112445", "415670741"}, "6c5c811b55cc85e0e1b54100749188c20beb3f5d"},
		{"safe post msg_signature", []string{vecToken, "1714112445", "415670741", vecSafeEncrypt}, "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3"},
		{"safe reply msg_signature", []string{vecToken, "1713424427", "415670741", vecReplyEncrypt}, "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1"},
		{"order does not matter", []string{"1514711492", "1714036504", vecToken}, "f464b24fc39322e44b38aa78f5edd27bd1441696"},
		{"nothing", nil, "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := strings.Join(tt.parts, ",")
			if got := Signature(tt.parts...); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if after := strings.Join(tt.parts, ","); after != before {
				t.Errorf("Signature reordered its argument: got %s, want %s", after, before)
			}
		})
	}
}

func TestValidSignature(t *testing.T) {
	tests := []struct {
		got  string
		want bool
	}{
		{"f464b24fc39322e44b38aa78f5edd27bd1441696", true},
		{"F464B24FC39322E44B38AA78F5EDD27BD1441696", true},
		{"f464b24fc39322e44b38aa78f5edd27bd1441697", false},
		{"f464b24fc39322e44b38aa78f5edd27bd144169", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := validSignature(tt.got, vecToken, "1714036504", "1514711492"); got != tt.want {
			t.Errorf("validSignature(%q): got %v, want %v", tt.got, got, tt.want)
		}
	}
}

func vecCipher(t testing.TB) *Cipher {
	t.Helper()
	c, err := NewCipher(vecAESKey, vecAppID)
	if err != nil {
		t.Fatalf("NewCipher: %v", err)
	}
	return c
}

func TestNewCipher(t *testing.T) {
	tests := []struct {
		name   string
		key    string
		appID  string
		wantIs error // nil: no error wanted
		fails  bool
	}{
		{"vector", vecAESKey, vecAppID, nil, false},
		{"short key", vecAESKey[:42], vecAppID, ErrInvalidAESKey, true},
		{"long key", vecAESKey + "A", vecAppID, ErrInvalidAESKey, true},
		{"not base64", strings.Repeat("*", 43), vecAppID, ErrInvalidAESKey, true},
		{"padded key", vecAESKey[:42] + "=", vecAppID, ErrInvalidAESKey, true},
		{"no appid", vecAESKey, "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewCipher(tt.key, tt.appID)
			if (err != nil) != tt.fails {
				t.Fatalf("got error %v, want error: %v", err, tt.fails)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("got %v, want %v", err, tt.wantIs)
			}
		})
	}
}

func TestDecryptVector(t *testing.T) {
	got, err := vecCipher(t).Decrypt(vecSafeEncrypt)
	if err != nil {
		t.Fatalf("Decrypt: %v", err)
	}
	if string(got) != vecSafeMessage {
		t.Errorf("got %s, want %s", got, vecSafeMessage)
	}
	if len(got) != 167 {
		t.Errorf("got length %d, want 167", len(got))
	}
	// The random prefix and the length field, as published.
	raw, _ := base64.StdEncoding.DecodeString(vecSafeEncrypt)
	cbcDecrypt(vecCipher(t), raw)
	if got := string(raw[:16]); got != "a8eedb185eb2fecf" {
		t.Errorf("random prefix: got %q, want a8eedb185eb2fecf", got)
	}
	if got := raw[16:20]; !bytes.Equal(got, []byte{0, 0, 0, 167}) {
		t.Errorf("length field: got %v, want [0 0 0 167]", got)
	}
}

func cbcEncrypt(c *Cipher, b []byte) { cipher.NewCBCEncrypter(c.block, c.iv).CryptBlocks(b, b) }
func cbcDecrypt(c *Cipher, b []byte) { cipher.NewCBCDecrypter(c.block, c.iv).CryptBlocks(b, b) }

func TestEncryptVector(t *testing.T) {
	c := vecCipher(t)
	got, err := c.Encrypt([]byte(vecReplyMessage), []byte(vecReplyRandom))
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	if got != vecReplyEncrypt {
		t.Errorf("got %s, want %s", got, vecReplyEncrypt)
	}
	if sig := Signature(vecToken, "1713424427", "415670741", got); sig != "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1" {
		t.Errorf("MsgSignature: got %s, want 1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1", sig)
	}
	back, err := c.Decrypt(got)
	if err != nil || string(back) != vecReplyMessage {
		t.Errorf("round trip: got %q, %v, want %q", back, err, vecReplyMessage)
	}
}

func TestEncryptRoundTrip(t *testing.T) {
	c := vecCipher(t)
	// Lengths around the 32-byte padding block, so every pad value shows up.
	for n := 0; n <= 70; n++ {
		msg := bytes.Repeat([]byte{'x'}, n)
		enc, err := c.Encrypt(msg, nil)
		if err != nil {
			t.Fatalf("Encrypt(%d bytes): %v", n, err)
		}
		raw, _ := base64.StdEncoding.DecodeString(enc)
		if len(raw)%32 != 0 {
			t.Errorf("%d bytes: got ciphertext of %d bytes, want a multiple of 32", n, len(raw))
		}
		got, err := c.Decrypt(enc)
		if err != nil || !bytes.Equal(got, msg) {
			t.Errorf("%d bytes: got %q, %v, want %q", n, got, err, msg)
		}
	}
	if _, err := c.Encrypt([]byte("x"), []byte("short")); err == nil {
		t.Error("Encrypt with a 5-byte random: got no error, want one")
	}
}

// encryptRaw encrypts plain, already padded, with the vector key, so that
// tests can build malformed plaintexts.
func encryptRaw(t *testing.T, plain []byte) string {
	t.Helper()
	c := vecCipher(t)
	out := make([]byte, len(plain))
	copy(out, plain)
	cbcEncrypt(c, out)
	return base64.StdEncoding.EncodeToString(out)
}

func TestDecryptRejects(t *testing.T) {
	c := vecCipher(t)
	other, err := NewCipher(vecAESKey, "wxotherappid00000")
	if err != nil {
		t.Fatal(err)
	}
	forOther, err := other.Encrypt([]byte("hello"), nil)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := NewCipher(strings.Repeat("B", 43), vecAppID)
	if err != nil {
		t.Fatal(err)
	}
	withOtherKey, err := otherKey.Encrypt([]byte("hello"), nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(vecSafeEncrypt)
	flipped := bytes.Clone(raw)
	flipped[len(flipped)-1] ^= 0x01 // corrupts the padding
	firstBlock := bytes.Clone(raw)
	firstBlock[0] ^= 0x80 // garbles block 0 (random + length) and bit-flips block 1

	// Plaintexts valid in all but one respect.
	block := func(pad int, body []byte) []byte {
		return append(bytes.Clone(body), bytes.Repeat([]byte{byte(pad)}, pad)...)
	}
	good := append(make([]byte, 16), 0, 0, 0, 2)
	good = append(good, "hi"+vecAppID...) // 16+4+2+18 = 40 bytes
	if len(good) != 40 {
		t.Fatalf("test setup: %d bytes", len(good))
	}
	lenTooBig := bytes.Clone(good)
	lenTooBig[19] = 200
	uneven := block(24, good)
	uneven[50] = 23

	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrInvalidCiphertext},
		{"not base64", "!!!!", ErrInvalidCiphertext},
		{"one block", base64.StdEncoding.EncodeToString(raw[:16]), ErrInvalidCiphertext},
		{"not whole blocks", base64.StdEncoding.EncodeToString(raw[:40]), ErrInvalidCiphertext},
		{"truncated", base64.StdEncoding.EncodeToString(raw[:len(raw)-16]), ErrInvalidCiphertext},
		{"bad padding", base64.StdEncoding.EncodeToString(flipped), ErrInvalidCiphertext},
		{"tampered first block", base64.StdEncoding.EncodeToString(firstBlock), ErrInvalidCiphertext},
		{"other appid", forOther, ErrAppIDMismatch},
		{"other key", withOtherKey, ErrInvalidCiphertext},
		{"pad 0", encryptRaw(t, append(good, make([]byte, 24)...)), ErrInvalidCiphertext},
		{"pad 33", encryptRaw(t, append(bytes.Clone(good[:31]), bytes.Repeat([]byte{33}, 33)...)), ErrInvalidCiphertext},
		{"uneven pad", encryptRaw(t, uneven), ErrInvalidCiphertext},
		{"length past end", encryptRaw(t, block(24, lenTooBig)), ErrInvalidCiphertext},
		{"all padding", encryptRaw(t, bytes.Repeat([]byte{32}, 32)), ErrInvalidCiphertext},
		{"no room for length", encryptRaw(t, block(14, make([]byte, 18))), ErrInvalidCiphertext},
		{"valid", encryptRaw(t, block(24, good)), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Decrypt(tt.in)
			if tt.want == nil {
				if err != nil || string(got) != "hi" {
					t.Fatalf("got %q, %v, want \"hi\"", got, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("got %q, %v, want %v", got, err, tt.want)
			}
		})
	}
}

func FuzzDecrypt(f *testing.F) {
	c := vecCipher(f)
	f.Add(vecSafeEncrypt)
	f.Add(vecReplyEncrypt)
	f.Add("")
	f.Add("AAAA")
	f.Add(strings.Repeat("A", 44))
	f.Add(strings.Repeat("/", 64))
	f.Fuzz(func(t *testing.T, in string) {
		msg, err := c.Decrypt(in)
		if err != nil {
			if msg != nil {
				t.Errorf("got %q with error %v, want nil", msg, err)
			}
			return
		}
		// Whatever decrypts must survive a round trip.
		enc, err := c.Encrypt(msg, nil)
		if err != nil {
			t.Fatalf("Encrypt: %v", err)
		}
		back, err := c.Decrypt(enc)
		if err != nil || !bytes.Equal(back, msg) {
			t.Errorf("round trip: got %q, %v, want %q", back, err, msg)
		}
	})
}
