package trial

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/idemcheck/idemcheck/faults"
	"github.com/idemcheck/idemcheck/harness"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// RunOption configures Run.
type RunOption func(*runConfig)

// attemptTimeout bounds one attempt (and the writer's Setup): an attempt
// that takes longer is cancelled and counts as failed.
const attemptTimeout = 30 * time.Second

type runConfig struct {
	maxAttempts     int
	sandbox         []SandboxOption
	noCrashSnapshot bool
	ackedStates     bool
	reuse           *Reuse
}

// NoCrashStates leaves CrashState.State nil: the run does not
// snapshot the state each crash left, for callers that judge only the
// final state (a snapshot per crash is a good part of a trial's time).
func NoCrashStates() RunOption { return func(c *runConfig) { c.noCrashSnapshot = true } }

// AckedStates snapshots the state after every acked delivery, in
// Observation.AckedStates: in a clean run, the state each prefix of its
// batches leaves, without a run per prefix.
func AckedStates() RunOption { return func(c *runConfig) { c.ackedStates = true } }

// MaxAttempts bounds the attempts of one delivery (default 8). A delivery
// that hits the bound is reported in Observation.Exhausted.
func MaxAttempts(n int) RunOption { return func(c *runConfig) { c.maxAttempts = n } }

// Sandboxes passes options to the trial's NewSandbox.
func Sandboxes(opts ...SandboxOption) RunOption {
	return func(c *runConfig) { c.sandbox = append(c.sandbox, opts...) }
}

// Run plays sc against w in a fresh sandbox of t (or one its Reuse brought
// back to the state Setup left, with SandboxesFrom): Setup once without
// faults, then every delivery, each attempt through its own fault plan
// (lost acks and zombies played by the driver), then a snapshot of the
// final state. An error means the run could not be made (setup failed, the
// server went away); a writer's failing attempts are part of the
// observation.
func Run[R any](ctx context.Context, t *Target, w harness.Writer[R], sc harness.Scenario[R], opts ...RunOption) (*Observation, error) {
	cfg := runConfig{maxAttempts: 8}
	for _, o := range opts {
		o(&cfg)
	}
	start := time.Now()
	var sb *Sandbox
	if cfg.reuse != nil {
		var scfg sandboxConfig
		for _, o := range cfg.sandbox {
			o(&scfg)
		}
		if scfg.mode == SchemaSandbox {
			sb = cfg.reuse.take(ctx)
		} else {
			cfg.reuse = nil
		}
	}
	fresh := sb == nil
	if fresh {
		var err error
		if sb, err = t.NewSandbox(ctx, cfg.sandbox...); err != nil {
			return nil, err
		}
	}
	d := &driver[R]{t: t, w: w, sc: sc, cfg: cfg, sb: sb,
		obs: &Observation{Sandbox: sb, Reused: !fresh, Faults: map[faults.Kind]int{}, Phases: Phases{Sandbox: time.Since(start)}}}
	if err := d.run(ctx, fresh); err != nil {
		_ = sb.Drop(context.WithoutCancel(ctx))
		return nil, err
	}
	return d.obs, nil
}

type driver[R any] struct {
	t     *Target
	w     harness.Writer[R]
	sc    harness.Scenario[R]
	cfg   runConfig
	sb    *Sandbox
	obs   *Observation
	acked []int
	mu    sync.Mutex // guards obs.Steps while a zombie and its retry run
}

// ErrSetup wraps a writer's Setup failure.
var ErrSetup = errors.New("writer setup failed")

// run plays the scenario; fresh: the sandbox is new and Setup runs first
// (otherwise it is a reused one, already as Setup left it).
func (d *driver[R]) run(ctx context.Context, fresh bool) error {
	if fresh {
		if err := d.setup(ctx); err != nil {
			return err
		}
	}
	start := time.Now()
	for i, del := range d.sc.Deliveries {
		if del.Batch < 0 || del.Batch >= len(d.sc.Batches) {
			return fmt.Errorf("trial: delivery %d names batch %d; the scenario has %d batches", i+1, del.Batch, len(d.sc.Batches))
		}
		if err := d.deliver(ctx, i, del); err != nil {
			return err
		}
	}
	d.obs.Phases.Attempts = time.Since(start) - d.obs.Phases.Crashes - d.obs.Phases.Snapshot
	start = time.Now()
	var err error
	d.obs.Final, err = Snapshot(ctx, d.sb)
	d.obs.Phases.Snapshot += time.Since(start)
	return err
}

// setup runs the writer's Setup in the new sandbox, through the proxy
// (without faults: its connection comes from the proxy's pool), and hands
// the sandbox to the run's Reuse, if any.
func (d *driver[R]) setup(ctx context.Context) error {
	start := time.Now()
	att := d.t.Proxy().NewAttempt(nil)
	v := d.via(att)
	conn, err := v.Connect(ctx)
	if err != nil {
		att.Close()
		return err
	}
	env := &harness.Env{Conn: conn, Sandbox: d.sb.name, Via: v}
	sctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	err = d.w.Setup(sctx, env)
	cancel()
	conn.Close(ctx)
	att.Close()
	if err != nil {
		return fmt.Errorf("%w: %w%s", ErrSetup, err, setupHint(err, attemptTimeout))
	}
	if d.cfg.reuse != nil {
		d.cfg.reuse.adopt(ctx, d.sb)
	}
	d.obs.Phases.Setup = time.Since(start)
	return nil
}

// via reaches the run's sandbox through one proxy attempt: its
// connections dial the attempt, its URL names the attempt's listener, so
// every way in meets the attempt's faults.
type via struct {
	sb  *Sandbox
	att *faults.Attempt
	cfg *pgx.ConnConfig
}

func (d *driver[R]) via(att *faults.Attempt) via { return d.sb.through(att) }

// Through reaches the sandbox through att: Connect dials the attempt and
// ConnString names the attempt's listener, so a program started with that
// string meets the attempt's faults. It is how a runner other than Run (a
// long-running consumer's) puts the fault proxy in front of its program.
func (s *Sandbox) Through(att *faults.Attempt) harness.Reacher { return s.through(att) }

func (s *Sandbox) through(att *faults.Attempt) via {
	cfg := s.ConnConfig()
	cfg.DialFunc = att.DialContext
	return via{sb: s, att: att, cfg: cfg}
}

func (v via) Connect(ctx context.Context) (*pgx.Conn, error) {
	return pgx.ConnectConfig(ctx, v.cfg.Copy())
}

func (v via) ConnString() string {
	addr, err := v.att.Listen()
	if err != nil {
		return ""
	}
	host, port, _ := net.SplitHostPort(addr)
	pn, _ := strconv.Atoi(port)
	return v.sb.connStringVia(host, uint16(pn))
}

// setupHint says what a setup that timed out ran into.
func setupHint(err error, limit time.Duration) string {
	var pg *pgconn.PgError
	switch {
	case errors.As(err, &pg) && pg.Code == "57014":
		return " (the setup hit a statement timeout: raise statement_timeout for the writer's role, or make the setup faster)"
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf(" (the setup did not finish within %s, the attempt timeout)", limit)
	}
	return ""
}

// deliver runs attempts of one delivery until one is acked.
func (d *driver[R]) deliver(ctx context.Context, i int, del harness.Delivery) error {
	batch := d.sc.Batches[del.Batch]
	plan := func(n int) harness.AttemptPlan {
		if n <= len(del.Attempts) {
			return del.Attempts[n-1]
		}
		return harness.AttemptPlan{}
	}
	for n := 1; n <= d.cfg.maxAttempts; n++ {
		p := plan(n)
		var res attemptResult
		if p.Zombie != nil && n < d.cfg.maxAttempts {
			var stalled bool
			res, stalled = d.zombie(ctx, i, n, batch, p, plan(n+1))
			if stalled {
				n++ // the retry that overlapped the zombie was attempt n+1
			}
		} else {
			res = d.attempt(ctx, i, n, batch, p, nil)
		}
		if res.err == nil {
			if p := plan(n); p.LostAck {
				d.obs.LostAcks++
				d.setOutcome(AckLost)
				continue
			}
			d.setOutcome(Acked)
			d.acked = append(d.acked, i)
			if d.cfg.ackedStates {
				start := time.Now()
				st, err := Snapshot(ctx, d.sb)
				if err != nil {
					return err
				}
				d.obs.AckedStates = append(d.obs.AckedStates, st)
				d.obs.Phases.Snapshot += time.Since(start)
			}
			return nil
		}
		if err := d.afterFailure(ctx, i, n, del.Batch, res); err != nil {
			return err
		}
	}
	d.obs.Exhausted = append(d.obs.Exhausted, batch.ID)
	return nil
}

func (d *driver[R]) setOutcome(o Outcome) { d.obs.Steps[len(d.obs.Steps)-1].Outcome = o }

type attemptResult struct {
	err error
	att *faults.Attempt
}

// attempt runs one attempt of batch through its own fault proxy attempt.
// When paused is not nil, the plan also pauses at a zombie point and
// paused receives the proxy attempt before the write starts.
func (d *driver[R]) attempt(ctx context.Context, del, n int, batch harness.Batch[R], p harness.AttemptPlan, paused chan<- *faults.Attempt) attemptResult {
	wire := p.Wire
	if p.Zombie != nil && paused != nil {
		wire = append(append(faults.Plan(nil), wire...), faults.Fault{Kind: faults.Pause, At: p.Zombie.At})
	}
	att := d.t.Proxy().NewAttempt(wire)
	defer att.Close()
	if paused != nil {
		paused <- att
	}
	v := d.via(att)
	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	var conn *pgx.Conn
	var err error
	if _, itself := d.w.(harness.ConnectsItself); !itself {
		conn, err = v.Connect(actx)
	}
	if err == nil {
		env := &harness.Env{Conn: conn, Attempt: n, Now: batch.LogicalTime, Sandbox: d.sb.name, Via: v, BeforeCrash: att.SetBeforeCrash}
		err = d.w.Write(actx, env, batch)
		if conn != nil {
			conn.Close(context.WithoutCancel(ctx))
		}
	}
	att.Close()
	step := Step{Delivery: del, Attempt: n, Batch: batch.ID, Plan: p.String(), Outcome: Failed, Events: att.Events()}
	if err != nil {
		step.Err = err.Error()
	}
	for _, f := range att.Fired() {
		d.obs.Faults[f.Kind]++
	}
	d.mu.Lock()
	d.obs.Steps = append(d.obs.Steps, step)
	d.mu.Unlock()
	return attemptResult{err: err, att: att}
}

// zombie runs attempt n, which stalls at its zombie point; the broker then
// runs attempt n+1 (plan next) while n is alive; once n+1 is done or
// blocked behind n, n resumes or is killed. It returns the retry's result
// and whether the stall happened (if n finished before its point, it is an
// ordinary attempt).
func (d *driver[R]) zombie(ctx context.Context, del, n int, batch harness.Batch[R], p, next harness.AttemptPlan) (attemptResult, bool) {
	attCh := make(chan *faults.Attempt, 1)
	first := make(chan attemptResult, 1)
	go func() { first <- d.attempt(ctx, del, n, batch, p, attCh) }()
	zatt := <-attCh
	select {
	case res := <-first:
		return res, false // finished before its stall point
	case <-zatt.Paused():
	}
	d.obs.Zombies++
	retryCh := make(chan *faults.Attempt, 1)
	retry := make(chan attemptResult, 1)
	go func() { retry <- d.attempt(ctx, del, n+1, batch, next, retryCh) }()
	ratt := <-retryCh
	var rres attemptResult
	done := false
	for !done {
		select {
		case rres = <-retry:
			done = true
		case <-time.After(2 * time.Millisecond):
			if d.blocked(ctx, ratt) {
				done = true
			}
		}
	}
	if p.Zombie.Kill {
		zatt.Kill()
	} else {
		zatt.Release()
	}
	zres := <-first
	if rres.att == nil {
		rres = <-retry
	}
	d.mu.Lock()
	for i := range d.obs.Steps {
		st := &d.obs.Steps[i]
		if st.Delivery == del && st.Attempt == n {
			st.Outcome = ZombieResumed
			if p.Zombie.Kill {
				st.Outcome = ZombieKilled
			}
			if zres.err != nil {
				st.Err = zres.err.Error()
			}
		}
	}
	// The retry's step must be the last one: deliver sets its outcome.
	for i := range d.obs.Steps {
		if st := d.obs.Steps[i]; st.Delivery == del && st.Attempt == n+1 && i != len(d.obs.Steps)-1 {
			d.obs.Steps = append(append(d.obs.Steps[:i:i], d.obs.Steps[i+1:]...), st)
			break
		}
	}
	d.mu.Unlock()
	return rres, true
}

// blocked reports whether a backend of att waits for a lock.
func (d *driver[R]) blocked(ctx context.Context, att *faults.Attempt) bool {
	pids := att.BackendPIDs()
	if len(pids) == 0 {
		return false
	}
	var n int
	err := d.t.admin.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE NOT granted AND pid = ANY($1)`, pids).Scan(&n)
	return err == nil && n > 0
}

// afterFailure waits for the failed attempt's backends to be reset or
// ended (so their transactions are rolled back) and, when a crash fault
// fired, snapshots the state before the retry.
func (d *driver[R]) afterFailure(ctx context.Context, del, n, batch int, res attemptResult) error {
	if err := d.waitGone(ctx, res.att); err != nil {
		return err
	}
	var crash *faults.Fault
	for _, f := range res.att.Fired() {
		if f.IsCrash() {
			f := f
			crash = &f
		}
	}
	if crash == nil {
		return nil
	}
	d.classify(res.att.Events())
	var st *State
	if !d.cfg.noCrashSnapshot {
		start := time.Now()
		var err error
		st, err = Snapshot(ctx, d.sb)
		d.obs.Phases.Crashes += time.Since(start)
		if err != nil {
			return err
		}
	}
	d.obs.Crashes = append(d.obs.Crashes, CrashState{Delivery: del, Attempt: n, Batch: batch,
		Fault: *crash, State: st, Acked: append([]int(nil), d.acked...)})
	return nil
}

// classify counts where a crash hit: inside a transaction, before a COMMIT
// ran, or after a round committed (its reply lost).
func (d *driver[R]) classify(events []faults.Event) {
	for _, e := range events {
		if e.Fault == nil {
			continue
		}
		switch {
		case e.Committed:
			d.obs.AfterCmt++
		case e.Fault.At.Commit > 0 || strings.HasPrefix(strings.ToUpper(e.SQL), "COMMIT"):
			d.obs.AtCommit++
		case e.Before == 'T' || e.Before == 'E':
			d.obs.InTx++
		}
	}
}

func (d *driver[R]) waitGone(ctx context.Context, att *faults.Attempt) error {
	att.Close()
	pids := att.ClosedPIDs()
	if len(pids) == 0 {
		return nil
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		var n int
		if err := d.t.admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)`, pids).Scan(&n); err != nil {
			return fmt.Errorf("trial: wait for a crashed attempt's backends: %w", err)
		}
		if n == 0 {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("trial: backends %v of a failed attempt did not end", pids)
}
