package reftest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/jackc/pgx/v5"
)

// Order builds an order of the default domain.
func Order(id, version int64, day int, amount string) harness.Order {
	return harness.Order{Source: "shop", ID: id, Version: version, EventDate: harness.NewDate(2026, 11, day),
		Customer: fmt.Sprintf("c-%d", id), Amount: amount}
}

// Batch builds a batch whose logical time grows with n.
func Batch(n int, orders ...harness.Order) harness.Batch[harness.Order] {
	return harness.Batch[harness.Order]{ID: fmt.Sprintf("b%d", n), Records: orders,
		LogicalTime: time.Date(2026, 11, 1, 0, n, 0, 0, time.UTC)}
}

// Trial is one sandbox with a writer set up in it.
type Trial struct {
	t  testing.TB
	sb *trial.Sandbox
	w  harness.Writer[harness.Order]
}

// New creates a sandbox on tg and runs w's Setup in it.
func New(t testing.TB, tg *trial.Target, w harness.Writer[harness.Order]) *Trial {
	t.Helper()
	ctx := context.Background()
	sb, err := tg.NewSandbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Drop(context.Background()) })
	tr := &Trial{t: t, sb: sb, w: w}
	conn, env := tr.env(ctx, 0, time.Time{}, nil)
	defer conn.Close(ctx)
	if err := w.Setup(ctx, env); err != nil {
		t.Fatalf("setup: %v", err)
	}
	return tr
}

// Hook sees every statement an attempt sends, before it is sent.
type Hook func(ctx context.Context, n int, sql string)

func (tr *Trial) env(ctx context.Context, attempt int, now time.Time, hook Hook) (*pgx.Conn, *harness.Env) {
	tr.t.Helper()
	cfg := tr.sb.ConnConfig()
	if hook != nil {
		cfg.Tracer = &tracer{hook: hook}
	}
	v := traced{sb: tr.sb, cfg: cfg}
	conn, err := v.Connect(ctx)
	if err != nil {
		tr.t.Fatal(err)
	}
	return conn, &harness.Env{Conn: conn, Attempt: attempt, Now: now, Sandbox: tr.sb.Name(), Via: v}
}

// traced reaches a sandbox with the connection settings of a test (its
// tracer).
type traced struct {
	sb  *trial.Sandbox
	cfg *pgx.ConnConfig
}

func (v traced) Connect(ctx context.Context) (*pgx.Conn, error) {
	return pgx.ConnectConfig(ctx, v.cfg.Copy())
}
func (v traced) ConnString() string { return v.sb.ConnString() }

// tracer calls hook before every query and COPY of a connection.
type tracer struct {
	mu   sync.Mutex
	n    int
	hook Hook
}

func (tr *tracer) next(ctx context.Context, sql string) {
	tr.mu.Lock()
	tr.n++
	n := tr.n
	tr.mu.Unlock()
	tr.hook(ctx, n, sql)
}

func (tr *tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	tr.next(ctx, d.SQL)
	return ctx
}

func (*tracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (tr *tracer) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceCopyFromStartData) context.Context {
	tr.next(ctx, "COPY "+d.TableName.Sanitize())
	return ctx
}

func (*tracer) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}

// Deliver runs one successful attempt of b.
func (tr *Trial) Deliver(b harness.Batch[harness.Order]) {
	tr.t.Helper()
	if err := tr.attempt(context.Background(), b, 1, nil); err != nil {
		tr.t.Fatalf("deliver %s: %v", b.ID, err)
	}
}

// ErrCrashed is what an attempt failed with when FailAt cut it short.
var ErrCrashed = errors.New("reftest: attempt cut off")

// FailAt runs an attempt of b whose connection is cancelled just before
// its k-th statement (counting from 1, BEGIN included): the statement never
// runs and the open transaction, if any, is rolled back when the
// connection closes. It reports whether the attempt got that far.
func (tr *Trial) FailAt(b harness.Batch[harness.Order], k int) (reached bool) {
	tr.t.Helper()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	err := tr.attempt(ctx, b, 1, func(_ context.Context, n int, _ string) {
		if n == k {
			reached = true
			cancel(ErrCrashed)
		}
	})
	if reached && err == nil {
		tr.t.Fatalf("attempt of %s succeeded although cut off before statement %d", b.ID, k)
	}
	if !reached && err != nil {
		tr.t.Fatalf("attempt of %s failed on its own: %v", b.ID, err)
	}
	return reached
}

func (tr *Trial) attempt(ctx context.Context, b harness.Batch[harness.Order], attempt int, hook Hook) error {
	conn, env := tr.env(context.Background(), attempt, b.LogicalTime, hook)
	defer conn.Close(context.Background())
	return tr.w.Write(ctx, env, b)
}

// Paused is an attempt held just before its k-th statement.
type Paused struct {
	release chan struct{}
	done    chan error
	pid     uint32
}

// PauseAt starts an attempt of b that stops just before its k-th statement
// and returns once it is there.
func (tr *Trial) PauseAt(b harness.Batch[harness.Order], k int) *Paused {
	tr.t.Helper()
	p := &Paused{release: make(chan struct{}), done: make(chan error, 1)}
	at := make(chan struct{})
	conn, env := tr.env(context.Background(), 1, b.LogicalTime, func(_ context.Context, n int, _ string) {
		if n == k {
			close(at)
			<-p.release
		}
	})
	p.pid = conn.PgConn().PID()
	go func() {
		defer conn.Close(context.Background())
		p.done <- tr.w.Write(context.Background(), env, b)
	}()
	select {
	case <-at:
	case err := <-p.done:
		tr.t.Fatalf("attempt of %s ended (%v) before statement %d", b.ID, err, k)
	}
	return p
}

// Resume lets the paused attempt go on and waits for its end.
func (p *Paused) Resume() error {
	close(p.release)
	return <-p.done
}

// Start runs an attempt of b in the background; Wait collects its result.
func (tr *Trial) Start(b harness.Batch[harness.Order]) *Paused {
	p := &Paused{done: make(chan error, 1)}
	conn, env := tr.env(context.Background(), 2, b.LogicalTime, nil)
	p.pid = conn.PgConn().PID()
	go func() {
		defer conn.Close(context.Background())
		p.done <- tr.w.Write(context.Background(), env, b)
	}()
	return p
}

// Wait waits for a started attempt.
func (p *Paused) Wait() error { return <-p.done }

// WaitsForLock reports, polling the server, whether the attempt's backend
// is blocked on a lock (giving up after a generous bound).
func (tr *Trial) WaitsForLock(p *Paused) bool {
	ctx := context.Background()
	for range 3000 { // 30 s at most
		var waiting bool
		err := tr.sb.Target().Admin().QueryRow(ctx,
			`SELECT coalesce(wait_event_type = 'Lock', false) FROM pg_stat_activity WHERE pid = $1`, p.pid).Scan(&waiting)
		if err == nil && waiting {
			return true
		}
		select {
		case <-p.done:
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
	return false
}

// State snapshots the trial's sandbox.
func (tr *Trial) State() *trial.State {
	tr.t.Helper()
	st, err := trial.Snapshot(context.Background(), tr.sb)
	if err != nil {
		tr.t.Fatal(err)
	}
	return st
}

// Diff compares two states.
func Diff(t testing.TB, clean, faulty *trial.State, opts ...trial.CompareOption) *trial.Diff {
	t.Helper()
	d, err := trial.Compare(context.Background(), clean, faulty, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Main opens the target of a package's tests by the default chain, runs
// them and closes it.
func Main(m *testing.M, target **trial.Target) int {
	tg, err := trial.OpenTarget(context.Background())
	if err != nil {
		fmt.Println(err)
		return 2
	}
	*target = tg
	code := m.Run()
	if err := tg.Close(); err != nil {
		fmt.Println("close target:", err)
		code = 1
	}
	return code
}
