package faults

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/idemcheck/idemcheck/internal/bufpipe"
	"github.com/idemcheck/idemcheck/internal/sqlsplit"
	"github.com/jackc/pgx/v5/pgproto3"
)

// Proxy forwards PostgreSQL connections to one server and applies, per
// attempt, that attempt's fault plan. It speaks the protocol only as far as
// it must to find round boundaries: messages are relayed as they are.
type Proxy struct {
	dial func(ctx context.Context) (net.Conn, error)
	pool *pool // nil: every connection gets a fresh backend
}

// New returns a proxy to the server at addr on network "tcp" (host:port)
// or "unix" (the socket's path).
func New(network, addr string) *Proxy {
	return &Proxy{dial: func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}

// Event is one entry of an attempt's timeline: a round and what happened
// to it. Events carry no times and no process ids, so the same plan on the
// same scenario gives the same events.
type Event struct {
	Conn   int    // which connection of the attempt, from 1
	Round  int    // the round's number within the attempt, from 1
	SQL    string // the round's statements, abbreviated
	Before byte   // transaction status before the round: 'I', 'T' or 'E'
	After  byte   // transaction status after (0 when it never completed)
	Tags   []string
	// SQLState is the error the client saw, if any.
	SQLState string
	// Committed is set when the round committed: a COMMIT that succeeded,
	// or a statement that succeeded outside a transaction block.
	Committed bool
	// Fault is the fault that fired at this round (nil for none).
	Fault *Fault

	// Where the round stands among the points a plan can name, as the
	// proxy numbered them when the round began: its number among the
	// attempt's committing rounds (0: it does not commit), among its COPY
	// FROM STDIN rounds (0: none), and its transaction and place in it (0:
	// outside a transaction block). Round is its number among all rounds.
	Commit, Copy, Tx, Stmt int
	// CopyData counts the CopyData messages the client sent in the round.
	CopyData int
}

func (e Event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "c%d r%d %c>", e.Conn, e.Round, e.Before)
	if e.After != 0 {
		b.WriteByte(e.After)
	} else {
		b.WriteByte('-')
	}
	fmt.Fprintf(&b, " %s", e.SQL)
	if len(e.Tags) > 0 {
		fmt.Fprintf(&b, " [%s]", strings.Join(e.Tags, ","))
	}
	if e.SQLState != "" {
		fmt.Fprintf(&b, " error %s", e.SQLState)
	}
	if e.Committed {
		b.WriteString(" committed")
	}
	if e.Fault != nil {
		fmt.Fprintf(&b, " FAULT %s", e.Fault)
	}
	return b.String()
}

// ErrCrashed is what a connection of a crashed attempt is refused with.
var ErrCrashed = errors.New("faults: the attempt crashed; no further connection reaches the server")

// ErrClosed is what a connection to a closed attempt is refused with: a
// driver's late cancel request (pgx sends one from a goroutine of its own
// when a connection is closed after a timeout) must not reach a backend
// the pool has since given to another attempt.
var ErrClosed = errors.New("faults: the attempt is closed; no further connection reaches the server")

// Attempt is one delivery attempt seen by the proxy: its plan, its
// connections (any number, through either front) and its timeline. Rounds
// are numbered across all its connections in the order they start.
type Attempt struct {
	proxy *Proxy
	plan  Plan

	mu          sync.Mutex
	beforeCrash func()
	rounds      int
	commits     int
	copies      int
	txs         int
	conns       int
	sessions    map[*session]bool
	events      []Event
	fired       []Fault
	pids        []uint32
	closed      []uint32       // backends disconnected (their rollback is asynchronous)
	wg          sync.WaitGroup // serve goroutines; Add only under mu while !closing
	crashed     bool
	closing     bool // Close began: no connection is served any more
	listener    net.Listener
	paused      chan struct{} // closed when a Pause point is reached
	release     chan struct{} // closed by Release
	crashCh     chan struct{} // closed on crash or kill
}

// NewAttempt starts an attempt with plan.
func (p *Proxy) NewAttempt(plan Plan) *Attempt {
	return &Attempt{proxy: p, plan: plan, sessions: map[*session]bool{},
		paused: make(chan struct{}), release: make(chan struct{}), crashCh: make(chan struct{})}
}

// SetBeforeCrash sets what runs when a crash point is reached, while the
// connections are held still: for an external writer, Process.Kill, so the
// process dies exactly there.
func (a *Attempt) SetBeforeCrash(fn func()) {
	a.mu.Lock()
	a.beforeCrash = fn
	a.mu.Unlock()
}

// Plan returns the attempt's plan.
func (a *Attempt) Plan() Plan { return a.plan }

// DialContext connects to the server through the attempt, in process: it
// has the signature of pgx's DialFunc (network and address are ignored).
// The connection is an in-memory one that buffers like a socket pair
// (package bufpipe): no system call between the driver and the proxy.
func (a *Attempt) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	if err := a.admit(); err != nil {
		return nil, err
	}
	client, proxied := bufpipe.New()
	go a.serve(proxied)
	return client, nil
}

// admit counts one more connection to serve, or refuses it when the
// attempt crashed or is closed. The count is taken under mu, and Close
// sets closing under mu before it waits, so no connection is admitted
// while Close waits for the others (sync.WaitGroup's rule for Add).
func (a *Attempt) admit() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.crashed:
		return ErrCrashed
	case a.closing:
		return ErrClosed
	}
	a.wg.Add(1)
	return nil
}

// Listen opens the attempt's TCP front on 127.0.0.1 and returns its
// address; any driver can connect to it (sslmode is refused with 'N', so
// clients fall back to plain text). Close stops it.
func (a *Attempt) Listen() (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.listener != nil {
		return a.listener.Addr().String(), nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("faults: listen: %w", err)
	}
	a.listener = l
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if a.admit() != nil {
				c.Close()
				continue
			}
			go a.serve(c)
		}
	}()
	return l.Addr().String(), nil
}

// Paused is closed when the attempt reaches a Pause point.
func (a *Attempt) Paused() <-chan struct{} { return a.paused }

// Release lets a paused attempt go on.
func (a *Attempt) Release() {
	a.mu.Lock()
	defer a.mu.Unlock()
	select {
	case <-a.release:
	default:
		close(a.release)
	}
}

// Kill crashes the attempt now, wherever it is (a zombie killed while
// paused): every connection is cut and its open transaction rolls back.
func (a *Attempt) Kill() { a.crash(nil) }

// Crashed reports whether a crash fault fired or the attempt was killed.
func (a *Attempt) Crashed() bool { return a.isCrashed() }

// Done is closed when the attempt crashed or was killed.
func (a *Attempt) Done() <-chan struct{} { return a.crashCh }

// Fired lists the faults that fired, in order.
func (a *Attempt) Fired() []Fault {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Fault(nil), a.fired...)
}

// Events returns the attempt's timeline so far.
func (a *Attempt) Events() []Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Event(nil), a.events...)
}

// BackendPIDs lists the server processes of the attempt's connections, so
// a caller can wait for a crashed attempt's backends to be gone (and their
// transactions rolled back) before it looks at the state.
func (a *Attempt) BackendPIDs() []uint32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]uint32(nil), a.pids...)
}

// Close stops the TCP front, cuts every connection still open without
// recording a fault, and waits until each connection's server side is
// settled: reset and back in the pool, or disconnected (see ClosedPIDs).
func (a *Attempt) Close() {
	a.mu.Lock()
	a.closing = true
	if a.listener != nil {
		a.listener.Close()
	}
	sessions := a.sessionList()
	a.mu.Unlock()
	for _, s := range sessions {
		s.client.Close()
	}
	a.wg.Wait()
}

// ClosedPIDs lists the server processes the attempt disconnected rather
// than reset: their open transactions roll back when the server notices,
// so a caller waits for them to be gone before it looks at the state.
func (a *Attempt) ClosedPIDs() []uint32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]uint32(nil), a.closed...)
}

func (a *Attempt) sessionList() []*session {
	out := make([]*session, 0, len(a.sessions))
	for s := range a.sessions {
		out = append(out, s)
	}
	return out
}

func (a *Attempt) isCrashed() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.crashed
}

// crash ends the attempt: BeforeCrash runs first (the connections are still
// held), then every server connection is closed (the server rolls back what
// is not committed), then every client connection.
func (a *Attempt) crash(f *Fault) {
	a.mu.Lock()
	if a.crashed {
		a.mu.Unlock()
		return
	}
	a.crashed = true
	if f != nil {
		a.fired = append(a.fired, *f)
	}
	hook := a.beforeCrash
	sessions := a.sessionList()
	if a.listener != nil {
		a.listener.Close()
	}
	a.mu.Unlock()
	if hook != nil {
		hook()
	}
	for _, s := range sessions {
		if s.pooled == nil {
			s.server.Close() // the server rolls back when it notices
		}
	}
	for _, s := range sessions {
		s.client.Close() // a pooled backend is rolled back as its session ends
	}
	close(a.crashCh)
}

// round is one round in flight on a session.
type round struct {
	ev       Event
	fault    *Fault
	copyIn   bool
	copyData int
	copyDone bool // the client ended its COPY data
	executes bool // it runs a statement (Query or Execute), not only prepares one
	sent     bool // numbered and given its fault
	written  bool // its messages went to the server
}

// session relays one client connection.
type session struct {
	a      *Attempt
	id     int
	client net.Conn
	server net.Conn
	cr, sr *bufio.Reader
	cw, sw *bufio.Writer

	mu       sync.Mutex
	status   byte     // the last ReadyForQuery status
	inflight []*round // sent to the server, awaiting ReadyForQuery
	ready    bool     // authentication is over
	prepared map[string]string
	pooled   *backend // the server connection came from the pool
	stmtInTx int      // rounds begun inside the current transaction (client pump only)
}

// readers and writers recycle the 64 KiB buffers of sessions: every
// attempt opens connections, and allocating them anew was most of the
// proxy's garbage.
var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}
	writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}
)

func newReader(c net.Conn) *bufio.Reader {
	r := readers.Get().(*bufio.Reader)
	r.Reset(c)
	return r
}

func newWriter(c net.Conn) *bufio.Writer {
	w := writers.Get().(*bufio.Writer)
	w.Reset(c)
	return w
}

// recycle gives back the buffers of a session that is over (its pumps
// have returned): the client's, and the server's unless they are a
// pooled backend's.
func (s *session) recycle() {
	put := func(r *bufio.Reader, w *bufio.Writer) {
		if r != nil {
			r.Reset(nil)
			readers.Put(r)
		}
		if w != nil {
			w.Reset(nil)
			writers.Put(w)
		}
	}
	put(s.cr, s.cw)
	if s.pooled == nil {
		put(s.sr, s.sw)
	}
}

// serve relays one client connection; the caller did a.wg.Add(1).
func (a *Attempt) serve(client net.Conn) {
	defer a.wg.Done()
	s := &session{a: a, client: client, status: 'I', prepared: map[string]string{}, cr: newReader(client), cw: newWriter(client)}
	defer s.recycle() // after every use: serve returns once both pumps have
	defer client.Close()
	if err := s.startup(); err != nil {
		if s.server != nil {
			s.server.Close()
		}
		return
	}
	a.mu.Lock()
	if a.crashed {
		a.mu.Unlock()
		s.release(true)
		return
	}
	a.conns++
	s.id = a.conns
	a.sessions[s] = true
	a.mu.Unlock()

	done := make(chan error, 1)
	go func() {
		err := s.serverPump()
		// A server that ends the session (a crash restart, a terminated
		// backend) closes the client's connection too, as it would without
		// the proxy: otherwise the client waits for a reply that never
		// comes, and the attempt for its timeout.
		client.Close()
		done <- err
	}()
	s.clientPump()
	client.Close()
	s.server.SetReadDeadline(time.Now()) // stop the server pump between messages
	err := <-done
	s.server.SetReadDeadline(time.Time{})
	healthy := err == nil || errors.Is(err, os.ErrDeadlineExceeded)
	pid := s.release(healthy)
	a.mu.Lock()
	delete(a.sessions, s)
	if pid != 0 {
		a.closed = append(a.closed, pid)
	}
	a.mu.Unlock()
}

// startup handles the untyped first messages: SSL and GSS encryption
// requests are refused with 'N', a cancel request is passed to the server
// on a connection of its own, a startup message opens the server
// connection.
func (s *session) startup() error {
	for {
		code, raw, err := readStartup(s.cr)
		if err != nil {
			return err
		}
		switch code {
		case codeSSL, codeGSSEnc:
			if _, err := s.client.Write([]byte{'N'}); err != nil {
				return err
			}
			continue
		case codeCancel:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if c, err := s.a.proxy.dial(ctx); err == nil {
				c.Write(raw)
				c.Close()
			}
			return io.EOF
		case codeStartV3:
			if s.a.proxy.pool != nil {
				var sm pgproto3.StartupMessage
				if err := sm.Decode(raw[4:]); err != nil {
					return fmt.Errorf("%w: startup message: %v", ErrMalformed, err)
				}
				ok, err := s.attachPooled(sm.Parameters)
				if err != nil || ok {
					return err
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			server, err := s.a.proxy.dial(ctx)
			if err != nil {
				s.client.Write(errorResponse("FATAL", "08006", "idemcheck proxy: cannot reach the server: "+err.Error()))
				return err
			}
			s.server = server
			s.sr, s.sw = newReader(server), newWriter(server)
			_, err = server.Write(raw)
			return err
		default:
			s.client.Write(errorResponse("FATAL", "08P01", fmt.Sprintf("idemcheck proxy: unsupported protocol request %d", code)))
			return fmt.Errorf("%w: unsupported startup request code %d", ErrMalformed, code)
		}
	}
}

// clientPump reads the client's messages. Messages of a round are held
// until the round's end (Sync or Query) or a Flush, then its fault is
// decided and they go to the server together. COPY data flows through.
func (s *session) clientPump() {
	var cur *round
	var held []byte
	for {
		m, err := readMessage(s.cr)
		if err != nil {
			return
		}
		s.mu.Lock()
		ready := s.ready
		s.mu.Unlock()
		if !ready || m.typ == 'p' { // authentication
			if err := s.toServer(m.raw, true); err != nil {
				return
			}
			continue
		}
		switch m.typ {
		case 'X': // Terminate
			if s.pooled == nil {
				s.toServer(m.raw, true)
			}
			return
		case 'd', 'c', 'f': // CopyData, CopyDone, CopyFail
			r := s.copyRound()
			if r != nil && r.fault != nil && r.fault.Kind == CrashInCopy && r.copyData >= r.fault.CopyData {
				s.fire(r, r.fault)
				s.a.crash(r.fault)
				return
			}
			if r != nil && m.typ == 'd' {
				s.mu.Lock()
				r.copyData++
				s.mu.Unlock()
			}
			if r != nil && m.typ != 'd' {
				r.copyDone = true
			}
			if err := s.toServer(m.raw, s.cr.Buffered() == 0); err != nil {
				return
			}
			continue
		}
		if cur == nil {
			cur = &round{}
		}
		sql, ok, err := clientSQL(m, s.prepared)
		if err != nil {
			s.client.Write(errorResponse("FATAL", "08P01", "idemcheck proxy: "+err.Error()))
			return
		}
		if ok && !strings.Contains(cur.ev.SQL, sql) {
			if cur.ev.SQL != "" {
				cur.ev.SQL += "; "
			}
			cur.ev.SQL += sql
		}
		held = append(held, m.raw...)
		if m.typ == 'Q' || m.typ == 'E' {
			cur.executes = true
		}
		end := m.typ == 'S' || m.typ == 'Q'
		if !end && m.typ != 'H' {
			continue
		}
		if !cur.sent {
			if !s.begin(cur) {
				return
			}
		}
		if cur.fault != nil && cur.fault.Kind == Error {
			if !s.inject(cur) {
				return
			}
		} else if err := s.toServer(held, true); err != nil {
			return
		}
		cur.written = true
		held = held[:0]
		if end {
			cur = nil
		}
	}
}

// begin numbers a round that is about to reach the server, finds its
// fault and applies what happens before the server sees it. It returns
// false when the attempt crashed.
func (s *session) begin(r *round) bool {
	a := s.a
	s.mu.Lock()
	before := s.status
	s.mu.Unlock()
	stmts := sqlsplit.Split(r.ev.SQL)
	commit := false
	for _, st := range stmts {
		commit = commit || sqlsplit.IsCommit(st) || (before == 'I' && sqlsplit.Writes(st))
		r.copyIn = r.copyIn || isCopyIn(st)
	}
	commit = commit && r.executes
	a.mu.Lock()
	a.rounds++
	r.ev = Event{Conn: s.id, Round: a.rounds, SQL: sqlsplit.Abbreviate(r.ev.SQL, 120), Before: before}
	var p Point
	p.Round = a.rounds
	if commit {
		a.commits++
		p.Commit = a.commits
	}
	if r.copyIn {
		a.copies++
		p.Copy = a.copies
	}
	if before == 'T' || before == 'E' {
		s.stmtInTx++
		p.Tx, p.Stmt = a.txs, s.stmtInTx
	} else {
		s.stmtInTx = 0
	}
	r.ev.Commit, r.ev.Copy, r.ev.Tx, r.ev.Stmt = p.Commit, p.Copy, p.Tx, p.Stmt
	for i := range a.plan {
		if matches(a.plan[i].At, p) {
			f := a.plan[i]
			r.fault = &f
			break
		}
	}
	r.sent = true
	s.mu.Lock()
	s.inflight = append(s.inflight, r)
	s.mu.Unlock()
	a.mu.Unlock()

	if r.fault == nil {
		return true
	}
	switch r.fault.Kind {
	case CrashBefore:
		s.fire(r, r.fault)
		s.a.crash(r.fault)
		return false
	case Pause:
		s.fire(r, nil)
		a.mu.Lock()
		select {
		case <-a.paused:
		default:
			close(a.paused)
		}
		a.mu.Unlock()
		select {
		case <-a.release:
		case <-a.crashCh:
			// Killed while stalled: the round never reached the server.
			a.mu.Lock()
			a.events = append(a.events, r.ev)
			a.mu.Unlock()
			return false
		}
	case Delay:
		s.fire(r, nil)
		select {
		case <-time.After(r.fault.Delay):
		case <-a.crashCh:
			return false
		}
	}
	return true
}

func matches(want, got Point) bool {
	switch {
	case want.Commit > 0:
		return want.Commit == got.Commit
	case want.Copy > 0:
		return want.Copy == got.Copy
	case want.Tx > 0:
		return want.Tx == got.Tx && want.Stmt == got.Stmt
	default:
		return want.Round == got.Round
	}
}

// fire records that r's fault fired (f nil: a non-crash fault recorded
// when the round ends). Crash faults complete the round's event now.
func (s *session) fire(r *round, f *Fault) {
	a := s.a
	a.mu.Lock()
	defer a.mu.Unlock()
	r.ev.Fault = r.fault
	if f == nil {
		a.fired = append(a.fired, *r.fault)
		return
	}
	if f.IsCrash() {
		a.events = append(a.events, r.ev)
	}
}

// inject answers r with its synthetic error. Serialization failures and
// deadlocks are raised by the server itself (so an open transaction is
// aborted for real); admin shutdown and connection failure end the
// connection, as they do for real.
func (s *session) inject(r *round) bool {
	f := r.fault
	name := sqlStates[f.SQLState]
	switch f.SQLState {
	case "57P01", "08006":
		s.fire(r, f)
		s.client.Write(errorResponse("FATAL", f.SQLState, "idemcheck: injected "+name))
		s.a.crash(f)
		return false
	}
	s.a.mu.Lock()
	s.a.fired = append(s.a.fired, *f)
	r.ev.Fault = f
	s.a.mu.Unlock()
	sql := fmt.Sprintf(`DO $idemcheck$ BEGIN RAISE EXCEPTION USING ERRCODE = '%s', MESSAGE = 'idemcheck: injected %s'; END $idemcheck$`, f.SQLState, name)
	q := make([]byte, 5, 6+len(sql))
	q[0] = 'Q'
	q = append(q, sql...)
	q = append(q, 0)
	binary.BigEndian.PutUint32(q[1:5], uint32(len(q)-1))
	return s.toServer(q, true) == nil
}

// copyRound is the round whose COPY data the client is sending.
func (s *session) copyRound() *round {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.inflight) - 1; i >= 0; i-- {
		if s.inflight[i].copyIn {
			return s.inflight[i]
		}
	}
	return nil
}

func (s *session) toServer(b []byte, flush bool) error {
	if _, err := s.sw.Write(b); err != nil {
		return err
	}
	if flush {
		return s.sw.Flush()
	}
	return nil
}

// serverPump relays the server's messages and completes rounds at
// ReadyForQuery. The reply of a CrashAfter round is swallowed, then the
// attempt crashes.
func (s *session) serverPump() error {
	for {
		m, err := readMessage(s.sr)
		if err != nil {
			return err
		}
		if m.typ == 'K' && len(m.raw) >= 9 {
			s.a.mu.Lock()
			s.a.pids = append(s.a.pids, binary.BigEndian.Uint32(m.raw[5:9]))
			s.a.mu.Unlock()
		}
		s.mu.Lock()
		if !s.ready {
			if m.typ == 'Z' {
				s.ready = true
				s.status = m.raw[5]
			}
			s.mu.Unlock()
			if err := s.toClient(m.raw); err != nil {
				return err
			}
			continue
		}
		var r *round
		if len(s.inflight) > 0 {
			r = s.inflight[0]
		}
		s.mu.Unlock()
		if r != nil {
			tag, code, err := serverTag(m)
			if err != nil {
				return err
			}
			if tag != "" {
				r.ev.Tags = append(r.ev.Tags, tag)
			}
			if code != "" && r.ev.SQLState == "" {
				r.ev.SQLState = code
			}
		}
		// A CrashAfter round's reply is swallowed, except the COPY
		// sub-protocol's messages, without which the client would never
		// send its data (CopyInResponse) or read the server's (COPY TO):
		// the round would never end and both sides would wait forever.
		swallow := r != nil && r.fault != nil && r.fault.Kind == CrashAfter && !copyFlow(m.typ)
		if m.typ == 'Z' && r != nil {
			status := m.raw[5]
			r.ev.After = status
			r.ev.Committed = committed(r.ev)
			s.mu.Lock()
			r.ev.CopyData = r.copyData
			s.status = status
			s.inflight = s.inflight[1:]
			s.mu.Unlock()
			s.a.mu.Lock()
			if r.ev.Before == 'I' && status == 'T' {
				s.a.txs++
			}
			if swallow {
				r.ev.Fault = r.fault
				s.a.fired = append(s.a.fired, *r.fault)
			}
			s.a.events = append(s.a.events, r.ev)
			s.a.mu.Unlock()
			if swallow {
				s.a.crash(nil)
				return nil // the server is idle: the backend can be reset
			}
		}
		if swallow {
			continue
		}
		if err := s.toClient(m.raw); err != nil {
			if m.typ == 'Z' {
				return nil // the server is idle; only the client is gone
			}
			return err
		}
	}
}

// copyFlow reports whether a server message of type typ drives a COPY:
// CopyInResponse, CopyOutResponse, CopyBothResponse, and COPY TO's
// CopyData and CopyDone.
func copyFlow(typ byte) bool {
	switch typ {
	case 'G', 'H', 'W', 'd', 'c':
		return true
	}
	return false
}

// committed judges from a completed round whether it committed something.
func committed(e Event) bool {
	if e.SQLState != "" && e.After != 'I' {
		return false
	}
	for _, t := range e.Tags {
		if t == "COMMIT" {
			return true
		}
	}
	return e.Before == 'I' && e.After == 'I' && e.SQLState == "" && len(e.Tags) > 0
}

func (s *session) toClient(b []byte) error {
	if _, err := s.cw.Write(b); err != nil {
		return err
	}
	if s.sr.Buffered() == 0 {
		return s.cw.Flush()
	}
	return nil
}
