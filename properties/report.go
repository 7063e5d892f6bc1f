package properties

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
)

// Verdict is the outcome of one law.
type Verdict string

// The verdicts of a law.
const (
	Held         Verdict = "held"
	Violated     Verdict = "violated"
	NotClaimed   Verdict = "not-claimed"
	Inconclusive Verdict = "inconclusive"
	// NotRun: claimed, but not checked, because an earlier law already
	// settled the certificate (the writer is nondeterministic, or FailFast
	// stopped at a violation); Reason says which.
	NotRun Verdict = "not-run"
)

// Report is a writer's certificate: every law with its verdict.
type Report struct {
	Writer string
	Target string
	// Seed is the run's seed (the one given with Seed, or the one drawn):
	// Seed(r.Seed) repeats the run's trials.
	Seed uint64
	// Checks is the random trials per law asked for; Shard the part of
	// the certification this report is (zero: the whole); MinCoverage the
	// coverage a passing fault law needs (Merge applies it to the parts).
	Checks int
	// MinChecks is the default budget's floor (see DefaultMinChecks): a
	// law stopped after this many random trials once every class of its
	// crash points was crashed, Checks at most (0: every law ran Checks).
	MinChecks   int
	Shard       Shard
	MinCoverage float64
	Laws        []LawReport
	// Phases is where the time of every run went, over all laws.
	Phases Phases
}

// Budget says how many random trials each law ran, for a certificate:
// "at least 30 random trials per law, then until ..." for the default
// budget, "" for an exact Checks (the trial counts say it).
func (r *Report) Budget() string {
	if r.MinChecks == 0 {
		return ""
	}
	return fmt.Sprintf("the default: at least %d random trials per law after its smoke scenarios, then until every class of crash points seen was crashed and every fault the law needs fired, at most %d (--checks N or properties.Checks(n) for exactly N)",
		r.MinChecks, r.Checks)
}

// Phases splits the time of a check's runs (trials, clean runs,
// confirmations, shrinking) by phase, summed over runs that may overlap
// in time (see Parallel).
type Phases struct {
	trial.Phases
	Release time.Duration // giving sandboxes back (dropped, or handed to their restore)
	// Restore is the time reused sandboxes took to be restored, in the
	// background, beside the trials.
	Restore time.Duration
	Compare time.Duration // comparing states
	Runs    int           // scenarios run
	// Reused counts the runs that took a sandbox an earlier run was done
	// with, restored to the state Setup left (see FreshSandboxes);
	// NoReuse says why sandboxes stopped being reused, or never were:
	// the writer's Setup leaves something a restore cannot bring back, or
	// old transactions on the server keep VACUUM from emptying tables.
	Reused  int
	NoReuse string
}

// add adds q's times and runs to p.
func (p *Phases) add(q Phases) {
	p.Phases.Add(q.Phases)
	p.Release += q.Release
	p.Restore += q.Restore
	p.Compare += q.Compare
	p.Runs += q.Runs
	p.Reused += q.Reused
	if p.NoReuse == "" {
		p.NoReuse = q.NoReuse
	}
}

// String is e.g. "412 runs (380 in a reused sandbox): sandbox 1.2s,
// setup 3.4s, ...".
func (p Phases) String() string {
	reuse := fmt.Sprintf(" (%d in a reused sandbox)", p.Reused)
	switch {
	case p.NoReuse != "" && p.Reused == 0:
		reuse = " (none in a reused sandbox: " + p.NoReuse + ")"
	case p.NoReuse != "":
		reuse = fmt.Sprintf(" (%d in a reused sandbox, then none: %s)", p.Reused, p.NoReuse)
	}
	return fmt.Sprintf("%d runs%s: sandbox %s, setup %s, attempts %s, crash snapshots %s, final snapshots %s, compare %s, release %s, restore %s",
		p.Runs, reuse, p.Sandbox.Round(time.Millisecond), p.Setup.Round(time.Millisecond), p.Attempts.Round(time.Millisecond),
		p.Crashes.Round(time.Millisecond), p.Snapshot.Round(time.Millisecond), p.Compare.Round(time.Millisecond), p.Release.Round(time.Millisecond), p.Restore.Round(time.Millisecond))
}

// LawReport is the outcome of one law.
type LawReport struct {
	Law     harness.Law
	Verdict Verdict
	// Trials counts the search trials: smoke scenarios, then random ones
	// (or exhaustive points) up to and including the first failure.
	Trials int
	// ShrinkTrials counts the trials run after the first failure, to
	// shrink it.
	ShrinkTrials int
	// FirstFailure is the trial that first violated the law (0: none), the
	// measure of how fast the law catches a broken writer.
	FirstFailure int
	// Faults counts, per kind, the trials that injected it: wire faults by
	// kind, and "lost-ack", "zombie", "replay", "reorder".
	Faults map[Injection]int
	// Where crashes hit: inside a transaction, before a COMMIT ran, after a
	// round committed (its reply lost).
	InTx, AtCommit, AfterCommit int
	// Coverage counts the classes of the law's crash points seen and
	// crashed (nil for
	// laws without wire faults).
	Coverage *Coverage
	// Explored says what exhaustive mode covered (nil in random mode).
	Explored       *Explored
	Reason         string // why not claimed, not run, or inconclusive
	Counterexample *Counterexample
	// Failure is what the law's violation, or the finding that made it
	// inconclusive, is about (NoFailure: none; see FailureKind).
	// Nondeterministic, WriterFails and ServerGone settle the whole
	// certificate (see Check).
	Failure FailureKind
	// NondeterministicColumns are the table.column names in which two
	// clean runs differ, when Failure is Nondeterministic (empty when the
	// runs differ in rows, not columns).
	NondeterministicColumns []string
	Duration                time.Duration
	// cause is the error that made the law inconclusive when it settles
	// the certificate: a *writerFailure, or one that wraps
	// trial.ErrTargetGone. Check returns it.
	cause error
}

// Counterexample is a minimal failing trial.
type Counterexample struct {
	Law      harness.Law
	Summary  string // one sentence of what went wrong
	Scenario string // the batches and deliveries, rendered
	// ScenarioFile holds the scenario; Replay (or idemcheck replay) re-runs
	// it exactly.
	ScenarioFile string
	// Timeline renders Steps for people, one attempt per line followed by
	// its rounds.
	Timeline string
	// Steps are the failing trial's attempts with their rounds, for
	// drawing (nil for Determinism and IncrementalEquivalence, whose
	// trials are clean runs).
	Steps   []trial.Step
	Diff    string
	Sandbox string // where the faulty state was kept for inspection
	// DropSandbox is the statement that drops the kept sandbox, on a
	// server given by URL ("" when none was kept, or the server is a
	// throwaway one).
	DropSandbox string
	Replay      string // how to re-run it
	// Records, Batches and Deliveries size the scenario: total records,
	// batches and deliveries; a consumer's trial has Processes, its
	// consumer processes, instead of deliveries.
	Records, Batches, Deliveries, Processes int
}

// Size says how big the scenario is, for people: "2 batch(es), 3
// record(s), 4 deliveries", or for a consumer "... 2 consumer process(es)".
func (c *Counterexample) Size() string {
	if c.Processes > 0 {
		return fmt.Sprintf("%d batch(es), %d record(s), %d consumer process(es)", c.Batches, c.Records, c.Processes)
	}
	return fmt.Sprintf("%d batch(es), %d record(s), %d deliveries", c.Batches, c.Records, c.Deliveries)
}

// String renders the counterexample for people.
func (c *Counterexample) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s violated: %s\n\n", c.Law, c.Summary)
	fmt.Fprintf(&b, "minimal scenario (%s):\n%s\n\n", c.Size(), indent(c.Scenario))
	if c.Timeline != "" {
		fmt.Fprintf(&b, "timeline:\n%s\n\n", indent(c.Timeline))
	}
	if c.Diff != "" {
		fmt.Fprintf(&b, "diff:\n%s\n\n", indent(c.Diff))
	}
	if c.Sandbox != "" {
		fmt.Fprintf(&b, "the faulty state is kept in %s\n", c.Sandbox)
		if c.DropSandbox != "" {
			fmt.Fprintf(&b, "drop it with: %s\n", c.DropSandbox)
		}
	}
	if c.ScenarioFile != "" {
		fmt.Fprintf(&b, "replay: %s\n", c.Replay)
	}
	return strings.TrimRight(b.String(), "\n")
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}

// FaultSummary renders the fault counts as "kind=n, ...", sorted.
func (l LawReport) FaultSummary() string {
	var keys []Injection
	for k, n := range l.Faults {
		if n > 0 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, l.Faults[k]))
	}
	return strings.Join(parts, ", ")
}

// CoverageSummary is one phrase for a table: "3/4 crash point classes
// (40 points)" in
// random mode, "412 points in 8 scenarios, 186 distinct states" in
// exhaustive mode, "" for a law without crash points.
func (l LawReport) CoverageSummary() string {
	switch {
	case l.Explored != nil:
		return l.Explored.String()
	case l.Coverage != nil:
		return l.Coverage.String()
	}
	return ""
}
