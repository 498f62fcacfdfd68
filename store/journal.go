package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// The journal is the store's own write-ahead log of appended messages. AppendAll writes a
// message to it (one write(2), into the kernel's page cache) and returns; the writer stores it
// in SQLite a moment later, in order with every other write. A caller that has its seq back
// therefore has a message that survives a crash of the process, as SQLite's own WAL with
// synchronous=NORMAL does, without waiting for SQLite's commit: a commit takes a few
// milliseconds, and now and then tens (the WAL starting over, a checkpoint or the garbage
// collector beside it, another process on the core). Open applies what a crash left in the
// journal before anything else runs; a segment is deleted once everything in it is in SQLite.
//
// A segment file is a sequence of records, each framed as
//
//	length  uint32, little-endian: of the payload
//	crc     uint32, little-endian: CRC-32C of the payload
//	payload
//
// and a payload is
//
//	uvarint record number, string conversation id, byte flags (1: a language follows),
//	[string lang, string script], uvarint message count, and for each message:
//	uvarint seq, string client id, string role, string kind, string body, varint created_at (ms)
//
// where a string is a uvarint length and that many bytes. A record cut short by a crash (a
// torn write) fails its length or its CRC; reading stops there.
type journal struct {
	mu   sync.Mutex // guards the segments: the writer releases them while appenders write
	base string     // segment paths are base + number + ".log"
	f    *os.File   // the segment being written
	n    int        // its number
	size int64
	last uint64 // the last record written to it
	torn bool   // a write failed part-way and no new segment could be opened since
	old  []segment
	buf  []byte
}

type segment struct {
	path string
	last uint64 // the last record it holds
}

// journalSegment is the size past which the journal moves to a new segment, so that the old
// one can be deleted once it is applied.
const journalSegment = 16 << 20

// maxRecord bounds a record's payload when reading: more is a corrupt length.
const maxRecord = 64 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// journalBase is where segment names start: not "-journal", which is SQLite's own rollback
// journal's name, and which an operator must never delete.
func journalBase(dbPath string) string { return dbPath + "-messages-" }

// journalFiles returns the journal segments beside the database, oldest first.
func journalFiles(dbPath string) ([]string, error) {
	base := journalBase(dbPath)
	paths, err := filepath.Glob(globEscape(base) + "*.log")
	if err != nil {
		return nil, err
	}
	num := func(p string) int {
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(p, base), ".log"))
		return n
	}
	sort.Slice(paths, func(i, j int) bool { return num(paths[i]) < num(paths[j]) })
	return paths, nil
}

func globEscape(s string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)
	return r.Replace(s)
}

// openJournal starts a new journal beside the database; Open has applied and removed any
// earlier one.
func openJournal(dbPath string) (*journal, error) {
	j := &journal{base: journalBase(dbPath)}
	if err := j.next(); err != nil {
		return nil, err
	}
	return j, nil
}

// next starts a new segment. j.mu must be held (or j not yet shared).
func (j *journal) next() error {
	// The new segment opens before the old one closes: when it cannot (no descriptor to
	// spare, say), the journal goes on in the old one and tries again at the next record.
	f, err := os.OpenFile(j.base+fmt.Sprintf("%06d", j.n+1)+".log", os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("store: journal: %w", err)
	}
	j.n++
	if j.f != nil {
		j.old = append(j.old, segment{path: j.f.Name(), last: j.last})
		if err := j.f.Close(); err != nil {
			f.Close()
			return fmt.Errorf("store: journal: %w", err)
		}
	}
	j.f, j.size = f, 0
	return nil
}

// write appends one record.
func (j *journal) write(r record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return ErrClosed
	}
	if j.torn {
		// Nothing more goes after a torn record, where reading stops.
		if err := j.next(); err != nil {
			return err
		}
		j.torn = false
	} else if j.size >= journalSegment {
		_ = j.next() // on failure the record goes in the current segment, a little longer
	}
	j.buf = appendFrame(j.buf[:0], r)
	n, err := j.f.Write(j.buf)
	j.size += int64(n)
	if err != nil {
		// A part of the record may be in the file: what follows must not be read as
		// records, so go on in a new segment (the torn one ends the reading of its own).
		j.torn = true
		if j.next() == nil {
			j.torn = false
		}
		return fmt.Errorf("store: journal: %w", err)
	}
	j.last = r.n
	return nil
}

// appendFrame appends a record to b as a segment holds it: its payload after its length and
// CRC, which are filled in once the payload is there.
func appendFrame(b []byte, r record) []byte {
	start := len(b)
	b = appendRecord(append(b, make([]byte, 8)...), r)
	payload := b[start+8:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(payload, castagnoli))
	return b
}

// release deletes the finished segments whose records are all applied (up to applied).
func (j *journal) release(applied uint64) {
	j.mu.Lock()
	i := 0
	for i < len(j.old) && j.old[i].last <= applied {
		i++
	}
	done := j.old[:i:i]
	j.old = j.old[i:]
	j.mu.Unlock()
	// Outside the lock: freeing a segment's blocks and pages takes milliseconds, and appends
	// would wait for it.
	for _, s := range done {
		os.Remove(s.path)
	}
}

// close closes the journal; when everything in it is applied (clean), its files go too.
func (j *journal) close(clean bool) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	if clean {
		for _, s := range j.old {
			os.Remove(s.path)
		}
		os.Remove(j.f.Name())
	}
	j.f = nil
	return err
}

// record is one AppendAll: messages of one conversation, with the language it moved to.
type record struct {
	n    uint64
	conv string
	lang *[2]string
	msgs []Message
}

// appendRecord appends the payload of a record to b.
func appendRecord(b []byte, r record) []byte {
	str := func(b []byte, s string) []byte {
		return append(binary.AppendUvarint(b, uint64(len(s))), s...)
	}
	b = binary.AppendUvarint(b, r.n)
	b = str(b, r.conv)
	if r.lang != nil {
		b = append(b, 1)
		b = str(b, r.lang[0])
		b = str(b, r.lang[1])
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(r.msgs)))
	for _, m := range r.msgs {
		b = binary.AppendUvarint(b, uint64(m.Seq))
		b = str(b, m.ClientID)
		b = str(b, m.Role)
		b = str(b, m.Kind)
		b = append(binary.AppendUvarint(b, uint64(len(m.Body))), m.Body...)
		b = binary.AppendVarint(b, ms(m.CreatedAt))
	}
	return b
}

var errCorrupt = errors.New("store: journal: corrupt record")

// decodeRecord reads a payload written by appendRecord. It never panics, whatever the bytes.
func decodeRecord(b []byte) (record, error) {
	var r record
	uv := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			b = nil
			return 0
		}
		b = b[n:]
		return v
	}
	ok := true
	str := func() string {
		l := uv()
		if l > uint64(len(b)) {
			ok = false
			return ""
		}
		s := string(b[:l])
		b = b[l:]
		return s
	}
	r.n = uv()
	r.conv = str()
	if len(b) == 0 {
		return r, errCorrupt
	}
	flags := b[0]
	b = b[1:]
	if flags&1 != 0 {
		r.lang = &[2]string{str(), str()}
	}
	count := uv()
	// Each message takes at least 6 bytes: a bound on count before allocating for it.
	if count > uint64(len(b))/6+1 {
		return r, errCorrupt
	}
	r.msgs = make([]Message, 0, count)
	for range count {
		m := Message{ConversationID: r.conv}
		m.Seq = int64(uv())
		m.ClientID, m.Role, m.Kind = str(), str(), str()
		if body := str(); body != "" {
			m.Body = []byte(body)
		}
		created, n := binary.Varint(b)
		if n <= 0 {
			return r, errCorrupt
		}
		b = b[n:]
		m.CreatedAt = fromMS(created)
		r.msgs = append(r.msgs, m)
	}
	if !ok || b == nil || len(b) != 0 || r.conv == "" || len(r.msgs) == 0 {
		return r, errCorrupt
	}
	return r, nil
}

// readRecords reads a segment's records up to the first that is cut short or corrupt (the
// end of what a crash left), and reports whether it stopped before the end of the file.
func readRecords(rd io.Reader) (recs []record, torn bool, err error) {
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(rd, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return recs, false, nil
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return recs, true, nil
			}
			return recs, false, err
		}
		l, sum := binary.LittleEndian.Uint32(hdr[:4]), binary.LittleEndian.Uint32(hdr[4:])
		if l > maxRecord {
			return recs, true, nil
		}
		payload := make([]byte, l)
		if _, err := io.ReadFull(rd, payload); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return recs, true, nil
			}
			return recs, false, err
		}
		if crc32.Checksum(payload, castagnoli) != sum {
			return recs, true, nil
		}
		r, err := decodeRecord(payload)
		if err != nil {
			return recs, true, nil
		}
		recs = append(recs, r)
	}
}
