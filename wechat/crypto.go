// Package wechat bridges hotline to a WeChat mini-program's customer-service
// messages: it receives WeChat's message pushes (消息推送) at /wechat/callback
// and answers users through the customer-service message API.
//
// The pieces, one file each:
//
//   - crypto.go: request signatures and the AES envelope of the "safe" and
//     "compatible" encryption modes;
//   - push.go: the push body (XML or JSON) and its [Message];
//   - handler.go: the [Handler] that verifies pushes, answers WeChat at once
//     and hands each message to a callback on a bounded set of workers;
//   - dedup.go: the [Deduper] that drops WeChat's retries;
//   - client.go: the API [Client] (access token, text messages, typing).
package wechat

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Errors returned by [NewCipher] and [Cipher.Decrypt]. Callers test them with
// errors.Is; the messages never contain key material.
var (
	// ErrInvalidAESKey means the EncodingAESKey is not 43 characters of
	// base64 that decode to a 32-byte AES-256 key.
	ErrInvalidAESKey = errors.New("wechat: invalid EncodingAESKey")
	// ErrInvalidCiphertext means the Encrypt field is not valid base64, not a
	// whole number of AES blocks, badly padded, or its length field does not
	// fit: it was corrupted, tampered with, or made with another key.
	ErrInvalidCiphertext = errors.New("wechat: invalid ciphertext")
	// ErrAppIDMismatch means the ciphertext decrypted cleanly but was made for
	// another appid.
	ErrAppIDMismatch = errors.New("wechat: appid mismatch")
)

const (
	// aesKeyLen is the length of an EncodingAESKey: 43 base64 characters
	// without the trailing "=" (32 bytes).
	aesKeyLen = 43
	// randomLen is the length of the random prefix of every plaintext.
	randomLen = 16
	// padBlock is the PKCS#7 block size WeChat pads to: 32, not AES's 16, so
	// a valid pad value is 1..32.
	padBlock = 32
)

// Signature returns WeChat's signature of parts: the parts sorted in
// byte-wise (dictionary) order, concatenated, hashed with SHA-1 and written as
// 40 lowercase hex digits.
//
// The URL-verification and plain-mode signature is
// Signature(token, timestamp, nonce); the safe-mode msg_signature is
// Signature(token, timestamp, nonce, encrypt). Signature does not modify parts.
func Signature(parts ...string) string {
	sorted := slices.Clone(parts)
	slices.Sort(sorted)
	h := sha1.New()
	for _, p := range sorted {
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// validSignature reports whether got is the signature of parts. It compares in
// constant time and accepts upper-case hex.
func validSignature(got string, parts ...string) bool {
	want := Signature(parts...)
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(got)), []byte(want)) == 1
}

// Cipher encrypts and decrypts the Encrypt field of WeChat's safe-mode and
// compatible-mode pushes and replies: AES-256-CBC with the key decoded from
// the EncodingAESKey, IV = key[:16], PKCS#7 padding to 32 bytes, over
//
//	random(16) ‖ big-endian uint32 len(msg) ‖ msg ‖ appid
//
// A Cipher is immutable and safe for concurrent use.
type Cipher struct {
	block cipher.Block
	iv    []byte
	appID []byte
}

// NewCipher returns a Cipher for the 43-character EncodingAESKey set in the
// mini-program console and the mini-program's appid. It returns an error
// wrapping [ErrInvalidAESKey] if aesKey is malformed, and an error if appID
// is empty: every plaintext ends with the appid, and Decrypt checks it.
func NewCipher(aesKey, appID string) (*Cipher, error) {
	if len(aesKey) != aesKeyLen {
		return nil, fmt.Errorf("%w: want %d characters, got %d", ErrInvalidAESKey, aesKeyLen, len(aesKey))
	}
	key, err := base64.StdEncoding.DecodeString(aesKey + "=")
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("%w: not base64", ErrInvalidAESKey)
	}
	if appID == "" {
		return nil, errors.New("wechat: empty appid")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidAESKey, err)
	}
	return &Cipher{block: block, iv: key[:aes.BlockSize], appID: []byte(appID)}, nil
}

// Decrypt decodes and decrypts b64, the Encrypt field of a push, and returns
// the message it carries (an XML or JSON push body).
//
// It checks the base64, the block length, the PKCS#7 padding (1..32, every pad
// byte equal), the length field and the trailing appid. It returns an error
// wrapping [ErrInvalidCiphertext] for the first four and [ErrAppIDMismatch]
// for the last. It never panics, whatever b64 holds. Callers must check the
// msg_signature before decrypting, so that no padding oracle is exposed to
// unsigned requests.
func (c *Cipher) Decrypt(b64 string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return nil, fmt.Errorf("%w: bad base64", ErrInvalidCiphertext)
	}
	// The smallest plaintext is random ‖ length ‖ appid; padding makes it a
	// whole number of 32-byte blocks, so it is at least one.
	if len(raw) < padBlock || len(raw)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: bad length %d", ErrInvalidCiphertext, len(raw))
	}
	plain := make([]byte, len(raw))
	cipher.NewCBCDecrypter(c.block, c.iv).CryptBlocks(plain, raw)

	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > padBlock || pad > len(plain) {
		return nil, fmt.Errorf("%w: bad padding", ErrInvalidCiphertext)
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return nil, fmt.Errorf("%w: bad padding", ErrInvalidCiphertext)
		}
	}
	plain = plain[:len(plain)-pad]
	if len(plain) < randomLen+4 {
		return nil, fmt.Errorf("%w: too short", ErrInvalidCiphertext)
	}
	body := plain[randomLen+4:]
	n := binary.BigEndian.Uint32(plain[randomLen : randomLen+4])
	if uint64(n) > uint64(len(body)) {
		return nil, fmt.Errorf("%w: bad length field", ErrInvalidCiphertext)
	}
	msg, appID := body[:n], body[n:]
	if subtle.ConstantTimeCompare(appID, c.appID) != 1 {
		return nil, ErrAppIDMismatch
	}
	return msg, nil
}

// Encrypt encrypts msg for c's appid and returns the base64 text WeChat
// expects in an Encrypt field. random must be 16 bytes, or nil to draw them
// from crypto/rand; a caller passes fixed bytes only to reproduce a known
// vector. Encrypt returns an error if random has another length or msg is
// longer than 4 GiB.
func (c *Cipher) Encrypt(msg []byte, random []byte) (string, error) {
	if random == nil {
		random = make([]byte, randomLen)
		if _, err := rand.Read(random); err != nil {
			return "", fmt.Errorf("wechat: random prefix: %w", err)
		}
	}
	if len(random) != randomLen {
		return "", fmt.Errorf("wechat: random prefix must be %d bytes, got %d", randomLen, len(random))
	}
	if uint64(len(msg)) > uint64(^uint32(0)) {
		return "", errors.New("wechat: message too long to encrypt")
	}
	n := randomLen + 4 + len(msg) + len(c.appID)
	pad := padBlock - n%padBlock
	plain := make([]byte, 0, n+pad)
	plain = append(plain, random...)
	plain = binary.BigEndian.AppendUint32(plain, uint32(len(msg)))
	plain = append(plain, msg...)
	plain = append(plain, c.appID...)
	for range pad {
		plain = append(plain, byte(pad))
	}
	cipher.NewCBCEncrypter(c.block, c.iv).CryptBlocks(plain, plain)
	return base64.StdEncoding.EncodeToString(plain), nil
}
