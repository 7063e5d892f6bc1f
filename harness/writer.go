package harness

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Batch is one unit of delivery: what an orchestrator hands a task run or a
// broker hands a consumer. A batch is immutable: every delivery of it, and
// every retry, carries the same ID, Partition, Records and LogicalTime.
type Batch[R any] struct {
	ID string
	// Partition names the one partition the batch replaces, when the writer
	// is certified with a partition field ("" otherwise).
	Partition string
	Records   []R
	// LogicalTime is the batch's deterministic "now": a writer that needs a
	// timestamp or a batch version takes it from here, never from the clock.
	LogicalTime time.Time
}

// Writer is the contract a pipeline's write step implements to be
// certified. R is the record type (Order by default).
//
// A Writer may touch the database only through env: that is what lets the
// harness crash it at an exact point of its conversation with PostgreSQL.
// Write returning nil means "ack": the batch is done and will not be retried
// (unless the ack is lost, which the harness also simulates).
type Writer[R any] interface {
	// Setup creates the writer's tables in a fresh sandbox. It runs once per
	// sandbox, without faults. A sandbox may serve several runs of the
	// same writer: between runs the harness empties its tables and sets
	// its sequences back, after checking that nothing else changed since
	// Setup (otherwise the next run gets a fresh sandbox and Setup again).
	Setup(ctx context.Context, env *Env) error
	// Write applies one delivery attempt of batch.
	Write(ctx context.Context, env *Env, batch Batch[R]) error
}

// ConnectsItself is implemented by a writer whose Write never uses
// Env.Conn: it reaches the sandbox on its own, through Env.ConnString or
// Env.Connect, as an external command does. Its attempts get an Env whose
// Conn is nil, so that no connection is opened only to be closed unused
// (that costs a session on the server per attempt, and the writer's own
// connection would be the attempt's second). Setup gets Conn as always.
type ConnectsItself interface {
	ConnectsItself()
}

// Env is what one attempt of a writer gets. Whatever runs the writer
// (harness/trial's Run, or a test) builds it.
type Env struct {
	// Conn is the attempt's connection, into the trial's sandbox and through
	// the fault proxy when faults are injected. The runner closes it. It
	// is nil in the attempts of a writer that ConnectsItself.
	Conn *pgx.Conn
	// Attempt counts the attempts of this delivery, from 1.
	Attempt int
	// Now is the logical clock of the batch being written (its
	// LogicalTime); during Setup it is the zero time.
	Now time.Time
	// Sandbox is the schema or database the trial runs in. It names the
	// place, not the run: a later run may reuse it, or get a new schema
	// of the same name once this one is dropped.
	Sandbox string
	// Via reaches the same sandbox, through the same faults, for
	// ConnString and Connect (nil: they fail).
	Via Reacher
	// BeforeCrash, when set, registers a function to run when a crash
	// point of the attempt is reached; OnCrash calls it.
	BeforeCrash func(fn func())
}

// Reacher reaches a sandbox: as a URL, or as one more connection.
type Reacher interface {
	ConnString() string
	Connect(ctx context.Context) (*pgx.Conn, error)
}

// OnCrash registers what runs when a crash point of this attempt is
// reached, while its connections are held still: an external writer's
// adapter registers the kill of its process group, so the process dies
// exactly there. Outside a faulty run it does nothing.
func (e *Env) OnCrash(fn func()) {
	if e.BeforeCrash != nil {
		e.BeforeCrash(fn)
	}
}

// ConnString reaches the same sandbox, through the same faults, as a URL
// for writers that need another driver ("" when Via is nil).
func (e *Env) ConnString() string {
	if e.Via == nil {
		return ""
	}
	return e.Via.ConnString()
}

// Connect opens one more connection like Conn (same sandbox, same faults).
// The caller closes it.
func (e *Env) Connect(ctx context.Context) (*pgx.Conn, error) {
	if e.Via == nil {
		return nil, errors.New("harness: this Env cannot open connections: its Via is nil")
	}
	return e.Via.Connect(ctx)
}

// Law names a property a writer may claim. The laws themselves are checked
// by package properties; they are named here so that writers, which import
// only harness, can declare their claims.
type Law string

// The laws (package properties states and checks them).
const (
	Determinism            Law = "Determinism"
	ReplayIdempotence      Law = "ReplayIdempotence"
	RetryEquivalence       Law = "RetryEquivalence"
	CrashAtomicity         Law = "CrashAtomicity"
	ExactlyOnceEffect      Law = "ExactlyOnceEffect"
	OrderIndependence      Law = "OrderIndependence"
	IncrementalEquivalence Law = "IncrementalEquivalence"
	ZombieSafety           Law = "ZombieSafety"
)

// AllLaws lists every law in the order they are checked.
var AllLaws = []Law{Determinism, ReplayIdempotence, RetryEquivalence, CrashAtomicity,
	ExactlyOnceEffect, OrderIndependence, IncrementalEquivalence, ZombieSafety}

// Claimer is implemented by writers that claim only some laws; a writer
// that does not implement it claims them all.
type Claimer interface {
	Claims() []Law
}
