package trial

import (
	"fmt"
	"time"

	"github.com/idemcheck/idemcheck/faults"
)

// Observation is what one run of a scenario left and how it got there.
type Observation struct {
	// Sandbox holds the final state; the caller drops it (or keeps it for
	// inspection when the trial failed).
	Sandbox *Sandbox
	Final   *State
	// Crashes are the states right after each crashed attempt, before its
	// retry.
	Crashes []CrashState
	// AckedStates (AckedStates) are the states right after each acked
	// delivery, in the order they were acked.
	AckedStates []*State
	Steps       []Step
	// Faults counts the wire faults that fired, by kind.
	Faults    map[faults.Kind]int
	LostAcks  int // acks the broker never got
	Zombies   int // attempts overlapped by their retry
	InTx      int // crashes inside an open transaction
	AtCommit  int // crashes before a COMMIT ran
	AfterCmt  int // crashes after a round committed, before its reply (ambiguous commits)
	Exhausted []string
	// Reused: the run took a sandbox of its Reuse (SandboxesFrom) and skipped
	// creating one and running Setup.
	Reused bool
	// Phases is where the run's time went.
	Phases Phases
}

// Phases splits a run's time: creating its sandbox, the writer's Setup,
// the attempts (the broker's work included), snapshotting the states
// crashes left, and snapshotting the final state (and, AckedStates,
// the states after acked deliveries). Dropping the sandbox is the
// caller's.
type Phases struct {
	Sandbox, Setup, Attempts, Crashes, Snapshot time.Duration
}

// Add adds q's durations to p.
func (p *Phases) Add(q Phases) {
	p.Sandbox += q.Sandbox
	p.Setup += q.Setup
	p.Attempts += q.Attempts
	p.Crashes += q.Crashes
	p.Snapshot += q.Snapshot
}

// CrashState is the state after one crashed attempt.
type CrashState struct {
	Delivery, Attempt int
	Batch             int // index into harness.Scenario.Batches
	Fault             faults.Fault
	State             *State // nil with NoCrashStates
	// Acked lists the deliveries (indexes) acked before the crash.
	Acked []int
}

// Step is one attempt in the timeline, or one consumer process (Label).
type Step struct {
	Delivery int // index into harness.Scenario.Deliveries
	Attempt  int // from 1
	Batch    string
	Plan     string
	Outcome  Outcome
	Err      string
	Events   []faults.Event
	// Label, when set, names the lane instead of its delivery, attempt
	// and batch: a consumer process, which reads all batches itself.
	Label string
	// Marks are requests of the step's other conversation, placed among
	// its rounds: a consumer process's polls and offset commits.
	Marks []Mark
}

// Mark is one request of a step's other conversation (a consumer's poll
// or offset commit), made after its AfterRound-th round.
type Mark struct {
	Kind       MarkKind
	AfterRound int
	Label      string // e.g. "offset commit 2"
	Fault      bool   // a fault met it
}

// MarkKind says what a Mark stands for.
type MarkKind int

const (
	// CommitMark is a consumer's offset commit to its broker.
	CommitMark MarkKind = iota
	// PollMark is a poll that brought a consumer records.
	PollMark
)

// Outcome is how an attempt ended.
type Outcome string

// The outcomes of an attempt.
const (
	Acked         Outcome = "acked"          // the writer succeeded and the broker got the ack
	AckLost       Outcome = "ack lost"       // the writer succeeded, the ack never reached the broker
	Failed        Outcome = "failed"         // the writer failed, or the attempt crashed
	ZombieResumed Outcome = "zombie resumed" // a stalled attempt went on after its retry ran
	ZombieKilled  Outcome = "zombie killed"  // a stalled attempt was ended after its retry ran
	// Stopped: a consumer process caught up and exited on SIGTERM (the
	// others end Failed: killed, or exited on their fault).
	Stopped Outcome = "stopped"
)

// Zombie reports whether the attempt was a zombie: overlapped by its own
// retry.
func (o Outcome) Zombie() bool { return o == ZombieResumed || o == ZombieKilled }

func (s Step) String() string {
	line := fmt.Sprintf("delivery %d attempt %d (batch %s, %s): %s", s.Delivery+1, s.Attempt, s.Batch, s.Plan, s.Outcome)
	if s.Label != "" {
		line = fmt.Sprintf("%s (%s): %s", s.Label, s.Plan, s.Outcome)
	}
	if s.Err != "" {
		line += ": " + s.Err
	}
	return line
}
