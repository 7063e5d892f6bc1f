package faults

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/idemcheck/idemcheck/internal/bufpipe"
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
	// ending: a crash is under way whose FATAL the client may already
	// have read (and exited on) before crash runs.
	ending   bool
	closing  bool // Close began: no connection is served any more
	listener net.Listener
	paused   chan struct{} // closed when a Pause point is reached
	release  chan struct{} // closed by Release
	crashCh  chan struct{} // closed on crash or kill
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

// Holding tells whether the attempt holds a round at a Pause point, not
// yet released.
func (a *Attempt) Holding() bool {
	select {
	case <-a.paused:
	default:
		return false
	}
	select {
	case <-a.release:
		return false
	case <-a.crashCh:
		return false
	default:
		return true
	}
}

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

// Quiet tells whether nothing of the attempt is under way on the server:
// no round in flight and no connection inside a transaction block. A
// long-running client (a consumer) that stays quiet has made durable all
// it is going to make of what it has read.
func (a *Attempt) Quiet() bool {
	if a.Holding() {
		return false
	}
	a.mu.Lock()
	ss := a.sessionList()
	a.mu.Unlock()
	for _, s := range ss {
		s.mu.Lock()
		busy := len(s.inflight) > 0 || (s.status != 0 && s.status != 'I')
		s.mu.Unlock()
		if busy {
			return false
		}
	}
	return true
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
	return a.crashed || a.ending
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
