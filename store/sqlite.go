package store

import (
	"bufio"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// SQLite is the store on one database file. Reads run on a pool of connections; every write
// goes through one goroutine that commits waiting writes together (group commit), so many
// visitors writing at once cost one transaction, not one each. Messages reach that goroutine
// through the store's own journal, so that storing one waits for a write(2), not a commit.
//
// The writer never checkpoints (wal_autocheckpoint is off on its connection): a checkpoint
// copies pages from the WAL into the database file, and every write waiting behind it would
// wait as long. The checkpointer goroutine copies them instead, on a connection of its own and
// in PASSIVE mode, beside the writer. The WAL file starts over only when a write begins with
// every frame copied; under steady writes that moment may never come, so once the WAL is long
// the writer itself copies the few frames written since, between two batches (restartWAL).
type SQLite struct {
	read   *sql.DB
	write  *sql.DB
	wconn  *sql.Conn // write's one connection, the writer's own
	ckpt   *sql.DB
	writes chan *writeReq
	stmts  map[string]*sql.Stmt // prepared once: parsing SQL costs more than running it

	mu     sync.RWMutex // guards closed against sends on writes
	closed bool
	done   chan struct{}

	// Appended messages go to the journal first (see journal.go). A conversation's own lock
	// (convState.mu) orders its seqs; jmu orders records: a record's number, its place in the
	// journal and its place in the writer's queue. Neither is held while looking a
	// conversation up (cmu), so that a journal write that stalls holds back only appends.
	jnl      *journal // nil when another process owns it
	unlock   func()   // releases the journal's lock
	jmu      sync.Mutex
	rec      uint64 // the last record number given; jmu
	cmu      sync.Mutex
	convs    map[string]*convState // conversations appended to lately; cmu
	evictGen uint64                // bumped when convs loses entries; cmu
	sweeps   atomic.Uint64         // eviction sweeps so far
	queued   atomic.Uint64         // the last record handed to the writer
	applied  atomic.Uint64         // the last record the writer committed
	amu      sync.Mutex            // with acond: waiting for applied to reach queued
	acond    *sync.Cond
	failed   atomic.Pointer[error] // a journaled write SQLite refused: appends stop
	hold     chan struct{}         // tests: the writer waits on it before each commit
	recovery Recovery              // what Open applied from a crash's journal

	restart     chan bool // the checkpointer asks the writer to start the WAL over (true: whatever it costs)
	stopCkpt    chan struct{}
	ckptDone    chan struct{}
	walRestart  int // WAL frames past which the WAL is started over
	ckptEvery   time.Duration
	checkpoints atomic.Int64 // checkpoints by the writer that copied the whole WAL, for tests
}

type writeReq struct {
	fn   func(tx *wtx) error
	errc chan error // nil for a journaled append, which nobody waits for
	rec  uint64     // a journaled append's record number
	conv *convState // and its conversation
}

// convState is what the store keeps in memory of a conversation it appends to: its messages
// may still be on their way to SQLite, so the next seq and the client ids seen come from here.
type convState struct {
	mu      sync.Mutex
	last    int64            // the last seq given; mu
	ids     map[string]int64 // client id → seq, for the conversation's every message with one; mu
	pending atomic.Int32     // records not yet committed; never evicted while above 0
	sweep   uint64           // the sweep at its last append; mu
	evicted bool             // dropped from convs: look the conversation up again; mu
}

// maxBatch is the most writes committed in one transaction. batchWait is how long the writer,
// when writes come in close together, waits for more to commit with the first: one transaction
// writes the pages its writes share (the table's last page, index pages) once, where one
// transaction each would write them each time. An idle server commits at once. Appends do not
// wait for the commit (they are journaled), so a longer wait costs them nothing; other writes
// (a new conversation, a state change) wait at most this much more. 5 ms rather than 1 ms cut
// the server's CPU under load by a tenth (0.54-0.58 core instead of 0.60-0.66 at 3,000
// questions/s).
const (
	maxBatch  = 256
	batchWait = 5 * time.Millisecond
)

// Checkpoint settings: the checkpointer copies frames every ckptEvery, and the WAL starts over
// past walRestartFrames frames (of one 4 KiB page each): 256 MiB. A quarter of a second lets a
// page written many times (the table's last page, busy index pages) be copied once, with two
// fsyncs per copy rather than per write: at 3,000 questions a second the server used 0.85 of
// a core with 20 ms, 0.7 with 250 ms. Starting the WAL over holds every write back for the
// writer's last copy and its fsyncs (8 to 40 ms measured under load); at 3,000 questions a
// second the WAL grows by about 25 MiB/s, so with 64 MiB that happened every 2.5 s, with
// 256 MiB every 10 s. journal_size_limit keeps the file at that size rather than truncating
// it each time (growing it again costs block allocations).
const (
	ckptEvery        = 250 * time.Millisecond
	walRestartFrames = 65536
	restartBacklog   = 64
)

// Open opens (creating it if needed) the database file path, runs the migrations it lacks and
// starts the writer.
func Open(path string) (*SQLite, error) {
	return open(path, walRestartFrames, ckptEvery)
}

func open(path string, walRestart int, ckptEvery time.Duration) (*SQLite, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := mkdirAll(dir); err != nil {
			return nil, err
		}
	}
	// The page cache stays at SQLite's default (2 MiB). With 32 MiB, the end of every
	// transaction walked the whole cache (pcache1TruncateUnsafe): 13% of the writer's time at
	// 3,000 questions a second, and 3 KiB more memory per connection, for no fewer reads.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
		"&_pragma=busy_timeout(5000)&_pragma=foreign_keys(ON)&_pragma=wal_autocheckpoint(0)" +
		"&_pragma=journal_size_limit(268435456)"
	write, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	write.SetMaxOpenConns(1)
	if err := migrate(write); err != nil {
		write.Close()
		return nil, err
	}
	// One process owns the message journal: it applies what a crash left and appends. Another
	// one opening the database meanwhile (hotline agent add beside a running server) reads and
	// writes through SQLite alone and cannot append messages.
	unlock, owner, err := lockJournal(path + "-messages.lock")
	if err != nil {
		write.Close()
		return nil, err
	}
	var s *SQLite
	defer func() {
		if s == nil { // failed before the store could own the lock
			unlock()
		}
	}()
	var recovery Recovery
	if owner {
		if recovery, err = recoverJournal(write, path); err != nil {
			write.Close()
			return nil, err
		}
	}
	read, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&mode=ro")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("store: open: %w", err)
	}
	read.SetMaxOpenConns(4)
	// Kept open: a connection opened under load needs descriptors when a server holding
	// thousands of sockets may have none to spare (SQLITE_CANTOPEN for a visitor's message).
	read.SetMaxIdleConns(4)
	ckpt, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		write.Close()
		read.Close()
		return nil, fmt.Errorf("store: open: %w", err)
	}
	ckpt.SetMaxOpenConns(1)
	wconn, err := write.Conn(context.Background())
	if err != nil {
		write.Close()
		read.Close()
		ckpt.Close()
		return nil, fmt.Errorf("store: open: %w", err)
	}
	var jnl *journal
	if owner {
		if jnl, err = openJournal(path); err != nil {
			wconn.Close()
			write.Close()
			read.Close()
			ckpt.Close()
			return nil, err
		}
	}
	s = &SQLite{read: read, write: write, wconn: wconn, ckpt: ckpt, writes: make(chan *writeReq, 1024), done: make(chan struct{}),
		stmts: map[string]*sql.Stmt{}, restart: make(chan bool, 1), stopCkpt: make(chan struct{}),
		ckptDone: make(chan struct{}), walRestart: walRestart, ckptEvery: ckptEvery,
		jnl: jnl, unlock: unlock, convs: map[string]*convState{}, hold: testHoldWrites, recovery: recovery}
	s.acond = sync.NewCond(&s.amu)
	for name, q := range writeQueries {
		if s.stmts[name], err = wconn.PrepareContext(context.Background(), q); err != nil {
			s.closeDBs()
			return nil, fmt.Errorf("store: prepare %s: %w", name, err)
		}
	}
	for name, q := range readQueries {
		if s.stmts[name], err = read.Prepare(q); err != nil {
			s.closeDBs()
			return nil, fmt.Errorf("store: prepare %s: %w", name, err)
		}
	}
	go s.writer()
	go s.checkpointer()
	return s, nil
}

func (s *SQLite) closeDBs() error {
	for _, st := range s.stmts {
		st.Close()
	}
	// Everything journaled is in SQLite by now, unless SQLite refused some of it: then the
	// journal stays for the next Open to apply.
	var jerr error
	if s.jnl != nil {
		jerr = s.jnl.close(s.failed.Load() == nil)
	}
	err := errors.Join(s.read.Close(), s.ckpt.Close(), s.wconn.Close(), s.write.Close(), jerr)
	s.unlock()
	return err
}

// convColumns are a conversation's columns; its last seq comes from its messages.
const convColumns = `id, token_hash, lang, script, lang_chosen, channel, channel_user, state,
	(SELECT coalesce(max(seq), 0) FROM messages WHERE conversation_id = conversations.id),
	created_at, updated_at, token_expires_at`

// touchEvery is how stale a conversation's updated_at may grow before a new message rewrites
// it. Idle conversations are closed after far longer (IdleConversations), and rewriting the
// conversation's row and index entries with every message would double the cost of storing it.
const touchEvery = time.Minute

var writeQueries = map[string]string{
	"createConversation": `INSERT INTO conversations
		(id, token_hash, lang, script, lang_chosen, channel, channel_user, state, created_at, updated_at, token_expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	"setLang": `UPDATE conversations SET lang = ?, script = ?, lang_chosen = 0 WHERE id = ?`,
	"touch":   `UPDATE conversations SET updated_at = ?1 WHERE id = ?2 AND updated_at < ?1 - ?3`,
	"insertMessage": `INSERT INTO messages (conversation_id, seq, client_id, role, kind, body, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
	// A question and its answer in one statement: the commonest write.
	"insertMessages2": `INSERT INTO messages (conversation_id, seq, client_id, role, kind, body, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?)`,
	// The writer's transaction, prepared once like the rest: it commits a thousand times a
	// second, and SQL text would be parsed again each time.
	"begin":    `BEGIN IMMEDIATE`,
	"commit":   `COMMIT`,
	"rollback": `ROLLBACK`,
}

var readQueries = map[string]string{
	"conversation":        `SELECT ` + convColumns + ` FROM conversations WHERE id = ?`,
	"conversationByToken": `SELECT ` + convColumns + ` FROM conversations WHERE token_hash = ?`,
	"messagesAfter": `SELECT seq, coalesce(client_id, ''), role, kind, body, created_at
		FROM messages WHERE conversation_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
}

func migrate(db *sql.DB) error {
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)`); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := filepath.Base(name)
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("store: migration %s: name must start with a number", base)
		}
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM schema_migrations WHERE version = ?`, v).Scan(&n); err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		if n > 0 {
			continue
		}
		b, err := fs.ReadFile(migrations, name)
		if err != nil {
			return err
		}
		tx, err := db.Begin()
		if err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		if _, err := tx.Exec(string(b)); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migration %s: %w", base, err)
		}
		if _, err := tx.Exec(`INSERT INTO schema_migrations (version) VALUES (?)`, v); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migration %s: %w", base, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: migration %s: %w", base, err)
		}
	}
	return nil
}

// writer owns the write connection until Close. It takes the writes waiting at once, runs
// each in a savepoint of one transaction (so one failing write does not undo the others) and
// commits them together.
func (s *SQLite) writer() {
	defer close(s.done)
	timer := time.NewTimer(batchWait)
	timer.Stop()
	var lastEnd time.Time
	for {
		var first *writeReq
		select {
		case r, ok := <-s.writes:
			if !ok {
				return
			}
			first = r
		case force := <-s.restart:
			s.restartWAL(force)
			continue
		}
		batch := []*writeReq{first}
		if time.Since(lastEnd) < batchWait {
			// Writes come in close together: gather them for a moment.
			timer.Reset(batchWait)
		gather:
			for len(batch) < maxBatch {
				select {
				case r, ok := <-s.writes:
					if !ok {
						break gather
					}
					batch = append(batch, r)
				case <-timer.C:
					break gather
				}
			}
			timer.Stop()
		} else {
		more:
			for len(batch) < maxBatch {
				select {
				case r, ok := <-s.writes:
					if !ok {
						break more
					}
					batch = append(batch, r)
				default:
					break more
				}
			}
		}
		if s.hold != nil {
			<-s.hold // tests: a crash before anything is committed
		}
		s.commit(batch)
		lastEnd = time.Now()
		// The commit has woken every writer of the batch onto this goroutine's P. Yield it
		// to them now: they hold a conversation each and have frames to send, where this
		// goroutine would otherwise go on gathering the next batch first and leave them
		// waiting behind it (under load, a p99 of 50 ms instead of 17 ms).
		runtime.Gosched()
	}
}

// restartWAL copies the frames the checkpointer has not copied yet (few: it asks just after
// copying), so that the next write starts the WAL over. PASSIVE never waits: when a reader
// still reads old frames, the WAL goes on and the checkpointer asks again. Only a WAL far past
// its bound (force) gets a RESTART checkpoint, which waits for readers and holds writes back
// meanwhile.
func (s *SQLite) restartWAL(force bool) {
	mode := "PASSIVE"
	if force {
		mode = "RESTART"
	}
	var busy, frames, copied int
	if err := s.wconn.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(`+mode+`)`).Scan(&busy, &frames, &copied); err == nil && busy == 0 && frames == copied {
		s.checkpoints.Add(1)
	}
}

// checkpointer copies the WAL's frames into the database file until Close, and asks the writer
// to start the WAL over once it is long. When that keeps failing (a reader in the old frames
// each time), the WAL grows until the writer's RESTART waits for the readers: the file stays
// bounded either way.
func (s *SQLite) checkpointer() {
	defer close(s.ckptDone)
	t := time.NewTicker(s.ckptEvery)
	defer t.Stop()
	sweep := time.NewTicker(sweepEvery)
	defer sweep.Stop()
	for {
		select {
		case <-s.stopCkpt:
			return
		case <-sweep.C:
			s.evictIdle()
			continue
		case <-t.C:
		}
		// Past the bound, copy again at once until what remains is little: the writer's copy
		// of the rest holds every write back while it runs.
		for try := 0; try < 8; try++ {
			var busy, frames, copied int
			if err := s.ckpt.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil {
				break // busy or closing: the next tick tries again
			}
			if frames < s.walRestart {
				break
			}
			if force := frames >= 16*s.walRestart; force || frames-copied <= restartBacklog {
				select {
				case s.restart <- force:
				default:
				}
				break
			}
		}
	}
}

func (s *SQLite) commit(batch []*writeReq) {
	errs, err := s.runBatch(batch)
	if err != nil && len(batch) > 1 {
		// Something failed half-way: the transaction is gone, so run each write alone, so
		// that one bad write does not fail the others.
		for _, r := range batch {
			errs, err := s.runBatch([]*writeReq{r})
			if err == nil {
				err = errs[0]
			}
			s.answer(r, err)
		}
		s.appliedUpTo(batch)
		return
	}
	for i, r := range batch {
		if err != nil {
			s.answer(r, err)
		} else {
			s.answer(r, errs[i])
		}
	}
	s.appliedUpTo(batch)
}

// answer answers a write: its caller waits on errc; a journaled append has nobody waiting, and
// if SQLite refused it, appends stop (the journal keeps it for the next Open).
func (s *SQLite) answer(r *writeReq, err error) {
	if r.errc != nil {
		r.errc <- err
		return
	}
	if err != nil {
		err = fmt.Errorf("store: a journaled write failed, the journal is kept for the next start: %w", err)
		s.failed.CompareAndSwap(nil, &err)
	}
	r.conv.pending.Add(-1)
}

// appliedUpTo records that the journaled appends of a committed batch are in SQLite, wakes
// the reads waiting for them and deletes the journal segments no longer needed.
func (s *SQLite) appliedUpTo(batch []*writeReq) {
	var last uint64
	for _, r := range batch {
		last = max(last, r.rec)
	}
	if last == 0 {
		return
	}
	s.amu.Lock()
	s.applied.Store(last)
	s.acond.Broadcast()
	s.amu.Unlock()
	if s.failed.Load() == nil {
		s.jnl.release(last)
	}
}

// settle waits until every append journaled before it was called is in SQLite, so that a read
// sees what the store has acknowledged.
func (s *SQLite) settle() {
	target := s.queued.Load()
	if s.applied.Load() >= target {
		return
	}
	s.amu.Lock()
	for s.applied.Load() < target {
		s.acond.Wait()
	}
	s.amu.Unlock()
}

// runBatch runs the writes in one transaction. A write may refuse with a sentinel error
// (ErrDuplicate, ErrNotFound) before writing anything; that is its answer and the batch goes
// on. Any other error rolls the whole transaction back and is returned as err.
func (s *SQLite) runBatch(batch []*writeReq) (errs []error, err error) {
	tx := &wtx{conn: s.wconn}
	if _, err := s.stmts["begin"].Exec(); err != nil {
		return nil, fmt.Errorf("store: begin: %w", err)
	}
	errs = make([]error, len(batch))
	for i, r := range batch {
		errs[i] = r.fn(tx)
		if errs[i] != nil && !errors.Is(errs[i], ErrDuplicate) && !errors.Is(errs[i], ErrNotFound) {
			s.stmts["rollback"].Exec()
			return nil, errs[i]
		}
	}
	if _, err := s.stmts["commit"].Exec(); err != nil {
		s.stmts["rollback"].Exec()
		return nil, fmt.Errorf("store: commit: %w", err)
	}
	return errs, nil
}

// wtx is the writer's transaction: the writes of one batch, on the writer's connection,
// between BEGIN IMMEDIATE and COMMIT (writeQueries are prepared on that connection, so they
// run in it too). It is not a *sql.Tx, for which database/sql starts a
// goroutine and a context each time: the writer commits a thousand times a second, and every
// goroutine woken is one more the writes wait behind.
type wtx struct {
	conn *sql.Conn
}

func (t *wtx) Exec(query string, args ...any) (sql.Result, error) {
	return t.conn.ExecContext(context.Background(), query, args...)
}

// do runs fn in the writer's transaction and waits until it is committed.
func (s *SQLite) do(ctx context.Context, fn func(tx *wtx) error) error {
	r := &writeReq{fn: fn, errc: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.writes <- r:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	// Once queued, a write is committed even if ctx ends: wait for it, so that what a
	// caller was told is saved is saved.
	return <-r.errc
}

// Close waits for queued writes to commit and closes the database.
func (s *SQLite) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.writes)
	s.mu.Unlock()
	<-s.done
	close(s.stopCkpt)
	<-s.ckptDone
	return s.closeDBs()
}

// isConstraint reports whether err is SQLite's constraint error with the extended code.
func isConstraint(err error, code int) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code() == code
}

func ms(t time.Time) int64     { return t.UnixMilli() }
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// CreateConversation stores a new conversation and, in the same transaction, its first
// messages (the greeting), which take seqs 1, 2, ... and c's creation time.
func (s *SQLite) CreateConversation(ctx context.Context, c Conversation, first ...Message) error {
	err := s.do(ctx, func(tx *wtx) error {
		if _, err := s.stmts["createConversation"].Exec(c.ID, c.TokenHash, c.Lang, c.Script, c.LangChosen,
			c.Channel, c.ChannelUser, c.State, ms(c.CreatedAt), ms(c.UpdatedAt), ms(c.TokenExpiresAt)); err != nil {
			return err
		}
		for i, m := range first {
			if _, err := s.stmts["insertMessage"].Exec(c.ID, i+1, nullString(m.ClientID), m.Role, m.Kind,
				bodyText(m.Body), ms(c.CreatedAt)); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && s.jnl != nil {
		// Its first append needs no read of what was just written: a crowd of new visitors
		// asking their first questions would otherwise queue for the read connections.
		st := &convState{last: int64(len(first)), ids: map[string]int64{}, sweep: s.sweeps.Load()}
		for i, m := range first {
			if m.ClientID != "" {
				st.ids[m.ClientID] = int64(i + 1)
			}
		}
		s.cmu.Lock()
		if s.convs[c.ID] == nil {
			s.convs[c.ID] = st
		}
		s.cmu.Unlock()
	}
	return err
}

func scanConversation(row interface{ Scan(...any) error }) (Conversation, error) {
	var c Conversation
	var created, updated, expires int64
	err := row.Scan(&c.ID, &c.TokenHash, &c.Lang, &c.Script, &c.LangChosen, &c.Channel, &c.ChannelUser, &c.State, &c.LastSeq,
		&created, &updated, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return c, ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("store: %w", err)
	}
	c.CreatedAt, c.UpdatedAt, c.TokenExpiresAt = fromMS(created), fromMS(updated), fromMS(expires)
	return c, nil
}

// Conversation returns the conversation with id, or ErrNotFound.
func (s *SQLite) Conversation(ctx context.Context, id string) (Conversation, error) {
	s.settle()
	return scanConversation(s.stmts["conversation"].QueryRowContext(ctx, id))
}

// ConversationByToken returns the conversation whose resume token hashes to hash, or
// ErrNotFound.
func (s *SQLite) ConversationByToken(ctx context.Context, hash []byte) (Conversation, error) {
	s.settle()
	return scanConversation(s.stmts["conversationByToken"].QueryRowContext(ctx, hash))
}

// SetLang records the language a conversation is held in, and whether the visitor chose it
// (rather than the server detecting it).
func (s *SQLite) SetLang(ctx context.Context, id, lang, script string, chosen bool) error {
	return s.exec(ctx, `UPDATE conversations SET lang = ?, script = ?, lang_chosen = ? WHERE id = ?`, lang, script, chosen, id)
}

// SetState moves a conversation to state.
func (s *SQLite) SetState(ctx context.Context, id, state string, at time.Time) error {
	return s.exec(ctx, `UPDATE conversations SET state = ?, updated_at = ? WHERE id = ?`, state, ms(at), id)
}

// SetTokenExpiry sets when a conversation's resume token stops working.
func (s *SQLite) SetTokenExpiry(ctx context.Context, id string, at time.Time) error {
	return s.exec(ctx, `UPDATE conversations SET token_expires_at = ? WHERE id = ?`, ms(at), id)
}

func (s *SQLite) exec(ctx context.Context, query string, args ...any) error {
	return s.do(ctx, func(tx *wtx) error {
		res, err := tx.Exec(query, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// Append stores m as the conversation's next message and returns it with its Seq. When m has
// a ClientID already stored in the conversation, nothing is written and Append returns the
// stored message with ErrDuplicate.
func (s *SQLite) Append(ctx context.Context, m Message) (Message, error) {
	out, err := s.AppendAll(ctx, []Message{m})
	if len(out) == 0 {
		return m, err
	}
	return out[0], err
}

// AppendAll stores messages of one conversation in order, all or none, and returns them with
// their seqs. It returns once they are in the journal (journal.go), where a crash of the
// process cannot lose them; SQLite has them a moment later, and every read waits for that.
// When the first has a ClientID already stored, nothing is written and AppendAll returns the
// stored message alone with ErrDuplicate.
func (s *SQLite) AppendAll(ctx context.Context, msgs []Message) ([]Message, error) {
	return s.appendAll(ctx, msgs, nil)
}

// AppendAllLang is AppendAll that also records, in the same transaction, the language the
// conversation is now held in, as detected (not chosen by the visitor): the language of an
// answer follows the question's, and a second write would double the wait for both.
func (s *SQLite) AppendAllLang(ctx context.Context, msgs []Message, lang, script string) ([]Message, error) {
	return s.appendAll(ctx, msgs, &[2]string{lang, script})
}

func (s *SQLite) appendAll(ctx context.Context, msgs []Message, lang *[2]string) ([]Message, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	conv := msgs[0].ConversationID
	for _, m := range msgs {
		if m.ConversationID != conv {
			return nil, fmt.Errorf("store: append: messages of two conversations")
		}
	}
	if err := s.failed.Load(); err != nil {
		return nil, *err
	}
	if s.jnl == nil {
		return nil, ErrNotOwner
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	for {
		st, err := s.convState(ctx, conv)
		if err != nil {
			return nil, err
		}
		out, dup, err := s.journal(st, msgs, lang)
		if errors.Is(err, errEvicted) {
			continue // an eviction ran since the lookup: SQLite has all of it
		}
		if dup > 0 {
			return s.duplicate(ctx, conv, dup)
		}
		return out, err
	}
}

// errEvicted is journal's answer for a conversation evicted since it was looked up.
var errEvicted = errors.New("store: conversation evicted")

// journal gives msgs their seqs, writes them to the journal and queues them for the writer;
// or, when the first one's client id is the conversation's already, returns that message's
// seq as dup. s.mu must be read-held.
func (s *SQLite) journal(st *convState, msgs []Message, lang *[2]string) (out []Message, dup int64, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.evicted {
		return nil, 0, errEvicted
	}
	if id := msgs[0].ClientID; id != "" {
		if seq, ok := st.ids[id]; ok {
			return nil, seq, nil
		}
	}
	out = make([]Message, len(msgs))
	for i, m := range msgs {
		m.Seq = st.last + int64(i) + 1
		out[i] = m
	}
	st.pending.Add(1)
	if err := s.enqueue(st, record{conv: msgs[0].ConversationID, lang: lang, msgs: out}); err != nil {
		st.pending.Add(-1)
		return nil, 0, fmt.Errorf("store: append: %w", err)
	}
	st.last += int64(len(out))
	for _, m := range out {
		if m.ClientID != "" {
			st.ids[m.ClientID] = m.Seq
		}
	}
	st.sweep = s.sweeps.Load()
	return out, 0, nil
}

// enqueue numbers a record, writes it to the journal and hands it to the writer.
func (s *SQLite) enqueue(st *convState, r record) error {
	s.jmu.Lock()
	defer s.jmu.Unlock()
	s.rec++
	r.n = s.rec
	if err := s.jnl.write(r); err != nil {
		s.rec--
		return err
	}
	// In the writer's queue in journal order: what is written after (a state change, say)
	// is committed after. The queue being full holds every append here: the disk is behind.
	s.writes <- &writeReq{fn: func(tx *wtx) error { return s.apply(r) }, rec: r.n, conv: st}
	s.queued.Store(r.n)
	return nil
}

// duplicate returns the stored message with seq, the one a retried client id was first
// stored with.
func (s *SQLite) duplicate(ctx context.Context, conv string, seq int64) ([]Message, error) {
	m, err := s.Message(ctx, conv, seq)
	if err != nil {
		return nil, fmt.Errorf("store: append: %w", err)
	}
	return []Message{m}, ErrDuplicate
}

// apply stores a journaled record in the writer's transaction.
func (s *SQLite) apply(r record) error {
	return storeRecord(r, func(name string, args ...any) error {
		_, err := s.stmts[name].Exec(args...)
		return err
	})
}

// bodyText is a message body as the text SQLite stores, without a copy: a body is never
// changed once made (a cached answer's is shared by every message that carries it), and the
// driver copies it into SQLite.
func bodyText(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// storeRecord writes a record's messages, the language it moved the conversation to and the
// conversation's updated_at, running writeQueries by name with exec: the writer's prepared
// statements, or recovery's transaction.
func storeRecord(r record, exec func(name string, args ...any) error) error {
	args := make([]any, 0, 7*len(r.msgs))
	for _, m := range r.msgs {
		args = append(args, m.ConversationID, m.Seq, nullString(m.ClientID), m.Role, m.Kind, bodyText(m.Body), ms(m.CreatedAt))
	}
	if len(r.msgs) == 2 {
		if err := exec("insertMessages2", args...); err != nil {
			return err
		}
	} else {
		for i := range r.msgs {
			if err := exec("insertMessage", args[i*7:i*7+7]...); err != nil {
				return err
			}
		}
	}
	if r.lang != nil {
		if err := exec("setLang", r.lang[0], r.lang[1], r.conv); err != nil {
			return err
		}
	}
	return exec("touch", ms(r.msgs[len(r.msgs)-1].CreatedAt), r.conv, touchEvery.Milliseconds())
}

// convState returns the in-memory state of a conversation, reading it from SQLite the first
// time (or the first time since it was evicted). A conversation not in memory has nothing
// waiting to be applied (one is evicted only once it has none), so SQLite has all of it.
func (s *SQLite) convState(ctx context.Context, id string) (*convState, error) {
	for {
		s.cmu.Lock()
		st, gen := s.convs[id], s.evictGen
		s.cmu.Unlock()
		if st != nil {
			return st, nil
		}
		st, err := s.loadConvState(ctx, id)
		if err != nil {
			return nil, err
		}
		s.cmu.Lock()
		if cur := s.convs[id]; cur != nil {
			s.cmu.Unlock()
			return cur, nil
		}
		if s.evictGen != gen {
			// An eviction ran while reading: what was read may predate appends since.
			s.cmu.Unlock()
			continue
		}
		st.sweep = s.sweeps.Load()
		s.convs[id] = st
		s.cmu.Unlock()
		return st, nil
	}
}

// loadConvState reads a conversation's last seq and client ids from SQLite.
func (s *SQLite) loadConvState(ctx context.Context, id string) (*convState, error) {
	var exists int
	if err := s.read.QueryRowContext(ctx, `SELECT 1 FROM conversations WHERE id = ?`, id).Scan(&exists); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("store: append: %w", err)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT seq, coalesce(client_id, '') FROM messages WHERE conversation_id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("store: append: %w", err)
	}
	defer rows.Close()
	st := &convState{ids: map[string]int64{}}
	for rows.Next() {
		var seq int64
		var client string
		if err := rows.Scan(&seq, &client); err != nil {
			return nil, fmt.Errorf("store: append: %w", err)
		}
		st.last = max(st.last, seq)
		if client != "" {
			st.ids[client] = seq
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: append: %w", err)
	}
	return st, nil
}

// evictIdle forgets the conversations with nothing waiting that no append has touched for
// idleSweeps sweeps.
func (s *SQLite) evictIdle() {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	sweeps := s.sweeps.Add(1)
	n := len(s.convs)
	for id, st := range s.convs {
		if !st.mu.TryLock() {
			continue // being appended to
		}
		if st.pending.Load() == 0 && sweeps-st.sweep > idleSweeps {
			st.evicted = true
			delete(s.convs, id)
		}
		st.mu.Unlock()
	}
	if len(s.convs) != n {
		s.evictGen++
	}
}

// testHoldWrites, when a test sets it before Open, holds the writer before each commit.
var testHoldWrites chan struct{}

// Conversations stay in memory for idleSweeps sweeps of sweepEvery after their last append.
const (
	sweepEvery = time.Minute
	idleSweeps = 10
)

// Recovery is what Open found in the journal: a crash left Records in it, Applied of which
// SQLite did not have yet.
type Recovery struct {
	Files, Records, Applied int
}

// Recovered returns what Open applied from the journal (all zero after a clean stop).
func (s *SQLite) Recovered() Recovery { return s.recovery }

// recoverJournal applies what a crash left in the journal beside the database at path, in
// order, skipping the records already in SQLite, then deletes the journal.
func recoverJournal(db *sql.DB, path string) (Recovery, error) {
	var rc Recovery
	files, err := journalFiles(path)
	if err != nil || len(files) == 0 {
		return rc, err
	}
	rc.Files = len(files)
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return rc, fmt.Errorf("store: journal: %w", err)
		}
		recs, _, err := readRecords(bufio.NewReader(fh))
		fh.Close()
		if err != nil {
			return rc, fmt.Errorf("store: journal %s: %w", filepath.Base(f), err)
		}
		if err := recoverRecords(db, recs, &rc); err != nil {
			return rc, fmt.Errorf("store: journal %s: %w", filepath.Base(f), err)
		}
	}
	for _, f := range files {
		if err := os.Remove(f); err != nil {
			return rc, fmt.Errorf("store: journal: %w", err)
		}
	}
	return rc, nil
}

// recoverRecords applies one segment's records in one transaction. It begins IMMEDIATE, so
// that another process writing meanwhile (hotline agent add) makes it wait, not fail.
func recoverRecords(db *sql.DB, recs []record, rc *Recovery) error {
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		return err
	}
	for _, r := range recs {
		applied, err := recoverRecord(conn, r)
		if err != nil {
			conn.ExecContext(ctx, `ROLLBACK`)
			return err
		}
		rc.Records++
		if applied {
			rc.Applied++
		}
	}
	if _, err := conn.ExecContext(ctx, `COMMIT`); err != nil {
		conn.ExecContext(ctx, `ROLLBACK`)
		return err
	}
	return nil
}

// recoverRecord applies one journaled record unless SQLite has it already (a record is
// committed whole or not at all, so its first message tells), and reports whether it did.
func recoverRecord(conn *sql.Conn, r record) (bool, error) {
	ctx := context.Background()
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM messages WHERE conversation_id = ? AND seq = ?`, r.conv, r.msgs[0].Seq).Scan(&n); err != nil {
		return false, err
	}
	if n > 0 {
		return false, nil
	}
	err := storeRecord(r, func(name string, args ...any) error {
		_, err := conn.ExecContext(ctx, writeQueries[name], args...)
		return err
	})
	if isConstraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY) {
		return false, nil // its conversation is gone: nothing to add it to
	}
	return err == nil, err
}

// MessagesAfter returns up to limit messages of a conversation with Seq greater than after,
// in order.
func (s *SQLite) MessagesAfter(ctx context.Context, conversationID string, after int64, limit int) ([]Message, error) {
	s.settle()
	rows, err := s.stmts["messagesAfter"].QueryContext(ctx, conversationID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: messages: %w", err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		m := Message{ConversationID: conversationID}
		var body string
		var created int64
		if err := rows.Scan(&m.Seq, &m.ClientID, &m.Role, &m.Kind, &body, &created); err != nil {
			return nil, fmt.Errorf("store: messages: %w", err)
		}
		m.Body, m.CreatedAt = []byte(body), fromMS(created)
		out = append(out, m)
	}
	return out, rows.Err()
}

// Message returns one message, or ErrNotFound.
func (s *SQLite) Message(ctx context.Context, conversationID string, seq int64) (Message, error) {
	ms, err := s.MessagesAfter(ctx, conversationID, seq-1, 1)
	if err != nil {
		return Message{}, err
	}
	if len(ms) == 0 || ms[0].Seq != seq {
		return Message{}, ErrNotFound
	}
	return ms[0], nil
}

// SaveFeedback records whether the bot message seq of a conversation helped; a second
// verdict on the same message replaces the first.
func (s *SQLite) SaveFeedback(ctx context.Context, conversationID string, seq int64, helpful bool, at time.Time) error {
	return s.do(ctx, func(tx *wtx) error {
		_, err := tx.Exec(`INSERT INTO feedback (conversation_id, seq, helpful, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (conversation_id, seq) DO UPDATE SET helpful = excluded.helpful, created_at = excluded.created_at`,
			conversationID, seq, helpful, ms(at))
		return err
	})
}

// Feedback returns the verdict stored for a message, or ErrNotFound.
func (s *SQLite) Feedback(ctx context.Context, conversationID string, seq int64) (bool, error) {
	var helpful bool
	err := s.read.QueryRowContext(ctx, `SELECT helpful FROM feedback WHERE conversation_id = ? AND seq = ?`,
		conversationID, seq).Scan(&helpful)
	if errors.Is(err, sql.ErrNoRows) {
		return false, ErrNotFound
	}
	return helpful, err
}

// IdleConversations returns the ids of conversations held by the bot with nothing new since
// before. Conversations waiting for or held by a person are the queue's and the agents' to end.
func (s *SQLite) IdleConversations(ctx context.Context, before time.Time, limit int) ([]string, error) {
	return s.ids(ctx, `SELECT id FROM conversations WHERE state = 'bot' AND updated_at < ? LIMIT ?`, ms(before), limit)
}

// Unanswered returns the ids of conversations held by the bot whose last message is the
// visitor's: questions acknowledged but not answered when the server last stopped.
func (s *SQLite) Unanswered(ctx context.Context, limit int) ([]string, error) {
	return s.ids(ctx, `SELECT c.id FROM conversations c JOIN messages m
		ON m.conversation_id = c.id AND m.seq = (SELECT max(seq) FROM messages WHERE conversation_id = c.id)
		WHERE c.state = 'bot' AND m.role = 'visitor' LIMIT ?`, limit)
}

func (s *SQLite) ids(ctx context.Context, query string, args ...any) ([]string, error) {
	s.settle()
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
