package consumer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/idemcheck/idemcheck/faults"
	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/kafka"
	"github.com/idemcheck/idemcheck/harness/natsjs"
	"github.com/idemcheck/idemcheck/harness/rabbitmq"
	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/idemcheck/idemcheck/internal/external"
)

// Runner runs consumer trials of one Program on one PostgreSQL target
// and one source: a Kafka Broker, a JetStream server or a RabbitMQ server
// (set one). It is safe for concurrent use: each trial has its own
// sandbox, topic and group (or stream and durable consumer, or queue) and
// proxies.
type Runner struct {
	Target    *trial.Target
	Broker    *kafka.Broker
	JetStream *natsjs.Server
	RabbitMQ  *rabbitmq.Server
	Program   Program
}

// Observation is what one trial left: the final state, the sandbox it is
// in (dropped unless the caller keeps it: Sandbox.Keep), and what each
// consumer process did.
type Observation struct {
	Final     *trial.State
	Sandbox   *trial.Sandbox
	Processes []Process
	// Partitions are the partitions the records went to, by order key
	// (Key); Kafka only.
	Partitions map[string]int32
}

// Process is what one consumer process did.
type Process struct {
	Fault  Fault
	Fired  bool   // its fault fired
	Ending Ending // how it ended
	// Events are its PostgreSQL rounds as the fault proxy numbered them;
	// a clean process's are the map its successors' kill points are
	// drawn from.
	Events  []faults.Event
	Commits int // OffsetCommit requests it sent (queues: acks)
	Fetches int // Fetch requests it sent (queues: pulls or confirmed subscriptions, and deliveries)
	Polls   int // Fetch responses that brought it records (queues: deliveries)
	// Marks place its polls and commits (deliveries and acks) among its
	// PostgreSQL rounds, for a timeline.
	Marks []trial.Mark
}

// Ending is how a consumer process ended (0: it did not end as the
// trial wanted; the trial's error says why).
type Ending int

const (
	// Stopped: it caught up, got SIGTERM and exited.
	Stopped Ending = iota + 1
	// Killed: its fault killed it (SIGKILL).
	Killed
	// Exited: it exited on its own after its fault fired (an error it
	// leaves to its supervisor); the next process takes over, as a
	// supervisor's restart would.
	Exited
)

// String renders what the process did, for a timeline.
func (p Process) String() string {
	fired := ""
	if !p.Fault.IsZero() {
		fired = p.Fault.String()
		if !p.Fired {
			fired += " (never reached)"
		}
		fired += "; "
	}
	return fmt.Sprintf("%s%d PostgreSQL rounds, %d polls with records (%d fetches), %d commits; %v", fired, len(p.Events), p.Polls, p.Fetches, p.Commits, p.Ending)
}

func (e Ending) String() string {
	switch e {
	case Stopped:
		return "stopped after catching up"
	case Killed:
		return "killed"
	case Exited:
		return "exited on its fault"
	case 0:
		return "unfinished"
	}
	return "Ending(" + strconv.Itoa(int(e)) + ")"
}

// Run plays sc: a fresh sandbox with the program's setup, a fresh topic
// and group, the batches produced, then the consumer processes one after
// another, each until its fault ends it or it has caught up and stopped. The
// topic and group are removed before Run returns; the sandbox is dropped
// when the caller is done with it (Release).
func (r *Runner) Run(ctx context.Context, sc Scenario) (*Observation, error) {
	sb, err := r.Target.NewSandbox(ctx)
	if err != nil {
		return nil, err
	}
	obs := &Observation{Sandbox: sb}
	if err := r.run(ctx, sb, sc, obs); err != nil {
		sb.Drop(context.WithoutCancel(ctx))
		return nil, err
	}
	return obs, nil
}

// Release drops the observation's sandbox unless it was kept.
func (o *Observation) Release(ctx context.Context) error {
	if o.Sandbox.Kept() {
		return nil
	}
	return o.Sandbox.Drop(ctx)
}

func (r *Runner) run(ctx context.Context, sb *trial.Sandbox, sc Scenario, obs *Observation) error {
	if err := sc.validInterleaving(); err != nil {
		return err
	}
	if err := r.setup(ctx, sb); err != nil {
		return err
	}
	ch, err := r.open(ctx, sc, obs)
	if err != nil {
		return err
	}
	defer ch.close(context.WithoutCancel(ctx))
	if sc.Zombie != nil {
		ps, err := r.zombie(ctx, sb, ch, *sc.Zombie)
		obs.Processes = append(obs.Processes, ps...)
		if err != nil {
			return fmt.Errorf("%v: %w", sc.Zombie, err)
		}
	}
	for i, k := range append(append([]Fault(nil), sc.Faults...), Fault{}) {
		p, err := r.process(ctx, sb, ch, k)
		if err != nil {
			return fmt.Errorf("consumer process %d (%v): %w", i+1, k, err)
		}
		obs.Processes = append(obs.Processes, p)
	}
	if sc.Rewind {
		// The operator's reset comes once the consumers are done; one
		// more clean process runs over everything again.
		if err := ch.rewind(ctx); err != nil {
			return err
		}
		p, err := r.process(ctx, sb, ch, Fault{})
		if err != nil {
			return fmt.Errorf("consumer process after the rewind: %w", err)
		}
		obs.Processes = append(obs.Processes, p)
	}
	obs.Final, err = trial.Snapshot(ctx, sb)
	return err
}

// setup runs the program's setup in sb, through the proxy without faults.
func (r *Runner) setup(ctx context.Context, sb *trial.Sandbox) error {
	att := r.Target.Proxy().NewAttempt(nil)
	defer att.Close()
	via := sb.Through(att)
	conn, err := via.Connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	env := &harness.Env{Conn: conn, Sandbox: sb.Name(), Via: via}
	if err := external.Setup(ctx, env, r.Program.SetupSQL, r.Program.SetupCommand, time.Minute); err != nil {
		return fmt.Errorf("%w: %w", trial.ErrSetup, err)
	}
	return nil
}

// running is one consumer process under way.
type running struct {
	fault Fault
	proc  *faults.Process
	att   *faults.Attempt // its PostgreSQL conversation
	sess  session         // its conversation with the source
	out   fmt.Stringer    // its output's last lines
}

// start starts a consumer process that meets f.
func (r *Runner) start(sb *trial.Sandbox, ch channel, f Fault) (*running, error) {
	att := r.Target.Proxy().NewAttempt(f.PG)
	environ, err := external.Environ(sb.Through(att).ConnString())
	if err != nil {
		att.Close()
		return nil, err
	}
	environ = append(environ, ch.environ()...)
	started := make(chan struct{})
	var proc *faults.Process
	kill := func() {
		<-started
		if proc != nil {
			proc.Kill()
		}
	}
	att.SetBeforeCrash(kill)
	sess := ch.begin(f, kill)
	sess.SetClock(func() int { return len(att.Events()) })
	out := external.NewTail()
	proc, err = external.Start(r.Program.Command, environ, out)
	close(started)
	if err != nil {
		sess.End()
		att.Close()
		return nil, err
	}
	return &running{fault: f, proc: proc, att: att, sess: sess, out: out}, nil
}

// fired tells whether the process's fault fired.
func (p *running) fired() bool { return p.sess.Fired() || p.att.Crashed() || len(p.att.Fired()) > 0 }

// caughtUp tells whether the process is up (it asked for messages) and
// has nothing open on the server.
func (p *running) caughtUp() bool { return p.sess.requests() > 0 && p.att.Quiet() }

// end kills the process if it still runs, closes its proxies' sessions
// and says what it did.
func (p *running) end(ending Ending) Process {
	fired := p.fired()
	select {
	case <-p.proc.Done():
	default:
		p.proc.Kill()
	}
	if p.att.Holding() {
		p.att.Kill() // the held round would wait for a Release forever
	}
	p.sess.End()
	p.att.Close()
	events := p.att.Events()
	return Process{Fault: p.fault, Fired: fired, Ending: ending,
		Events: events, Commits: p.sess.commits(), Fetches: p.sess.requests(), Polls: p.sess.polls(), Marks: p.sess.marks()}
}

// process runs one consumer process until its fault kills it or it has
// caught up and stopped on SIGTERM.
func (r *Runner) process(ctx context.Context, sb *trial.Sandbox, ch channel, f Fault) (Process, error) {
	p, err := r.start(sb, ch, f)
	if err != nil {
		return Process{}, err
	}
	ending, err := r.watch(ctx, ch, []*running{p}, nil)
	if err == nil && ending == 0 {
		ending, err = r.stop(p)
	}
	return p.end(ending), err
}

// watch waits until every process of ps has caught up (nothing pending
// on the channel and each caughtUp; ending 0), until one ends on its own (its
// ending: Killed by its fault, Exited after it; any other end breaks the
// contract), or until also is closed (ending 0, errAlso).
func (r *Runner) watch(ctx context.Context, ch channel, ps []*running, also <-chan struct{}) (Ending, error) {
	deadline := time.NewTimer(r.Program.catchUpTimeout())
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	done := make(chan *running, len(ps))
	stopWaiting := make(chan struct{})
	defer close(stopWaiting)
	for _, p := range ps {
		go func() {
			select {
			case <-p.proc.Done():
				done <- p
			case <-stopWaiting:
			}
		}()
	}
	for {
		select {
		case p := <-done:
			switch {
			case p.proc.Killed():
				return Killed, nil
			case p.fired():
				// It ended on its fault (an error it does not handle but
				// leaves to its supervisor): restarted, as a supervisor
				// would.
				return Exited, nil
			}
			return 0, contractError("it exited before catching up (%v, %s)%s", p.proc.Wait(0), did(ch, p), tail(p.out))
		case <-also:
			return 0, errAlso
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-deadline.C:
			lag, _ := ch.pending(ctx)
			return 0, contractError("it never caught up within %v: %d messages not committed or acked; %s%s", r.Program.catchUpTimeout(), lag, did(ch, ps[len(ps)-1]), tail(ps[len(ps)-1].out))
		case <-tick.C:
			// Not before each fetched: a process is judged once it is up
			// and consuming (and can take SIGTERM gracefully), even when
			// the ones before it left it nothing to do.
			if !allCaughtUp(ps) {
				continue
			}
			lag, err := ch.pending(ctx)
			if err != nil {
				return 0, err
			}
			if lag == 0 && allCaughtUp(ps) {
				return 0, nil
			}
		}
	}
}

// errAlso is what watch returns when its also channel closed.
var errAlso = errors.New("consumer: watched event")

func allCaughtUp(ps []*running) bool {
	for _, p := range ps {
		if !p.caughtUp() {
			return false
		}
	}
	return true
}

// stop sends SIGTERM and waits for the process to exit.
func (r *Runner) stop(p *running) (Ending, error) {
	p.proc.Terminate()
	select {
	case <-p.proc.Done():
		if p.proc.Killed() { // its fault fired while it stopped
			return Killed, nil
		}
		if err := p.proc.Wait(0); err != nil {
			if p.fired() {
				return Exited, nil // it was ending on its fault already
			}
			return 0, contractError("it caught up, but SIGTERM ended it with %v, not exit 0%s", err, tail(p.out))
		}
		return Stopped, nil
	case <-time.After(r.Program.stopTimeout()):
		return 0, contractError("it caught up, but did not exit within %v of SIGTERM (a consumer finishes the records it holds and exits)%s", r.Program.stopTimeout(), tail(p.out))
	}
}

// did says what a consumer process did, for a contract error.
func did(ch channel, p *running) string { return ch.did(p.sess, len(p.att.Events())) }

func tail(out fmt.Stringer) string {
	if s := out.String(); s != "" {
		return "; its output ends:\n" + s
	}
	return ""
}
