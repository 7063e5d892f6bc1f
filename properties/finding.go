package properties

import (
	"fmt"
	"strings"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
)

// FailureKind says what a law's failure is about: the state a scenario
// left (StateDiffers), a batch the writer never got through, the writer's
// own nondeterminism, or a finding that settles the whole certificate
// (WriterFails, ServerGone). Code compares kinds; String renders one for
// people, at the edges (tables, JSON, reports).
type FailureKind int

// The kinds of failure. The zero kind is no failure: the law held, was
// not claimed or not run, or is inconclusive for want of coverage or of a
// failure that reproduces (LawReport.Reason says which).
const (
	NoFailure FailureKind = iota
	// StateDiffers: the state after the scenario differs from the clean
	// run's (or a crash left a state that is neither the state before the
	// batch nor the state after it).
	StateDiffers
	// BatchNeverAcked: the writer failed on every attempt of a batch of
	// the scenario (the attempt bound was reached).
	BatchNeverAcked
	// Nondeterministic: two clean runs of the same batches differ, so
	// every other verdict is noise; LawReport.NondeterministicColumns
	// names the columns.
	Nondeterministic
	// WriterFails: the writer fails on some batch even without faults, so
	// no law can be judged (ErrWriterFails).
	WriterFails
	// ServerGone: the server went away or restarted (trial.ErrTargetGone).
	ServerGone
	// LostRows: rows of the clean run are missing (Jepsen's lost write):
	// a consumer skipped records.
	LostRows
	// DuplicatedRows: rows of the clean run are there more often: a
	// consumer applied records twice.
	DuplicatedRows
	// WrongValues: rows the clean run does not have, or with other values.
	WrongValues
	// NeverCaughtUp: after the faults, a consumer never caught up, exited
	// on its own or ignored SIGTERM.
	NeverCaughtUp
)

var failureNames = [...]string{
	NoFailure:        "",
	StateDiffers:     "state-differs",
	BatchNeverAcked:  "batch-never-acked",
	Nondeterministic: "nondeterministic",
	WriterFails:      "writer-fails",
	ServerGone:       "server-gone",
	LostRows:         "lost-rows",
	DuplicatedRows:   "duplicated-rows",
	WrongValues:      "wrong-values",
	NeverCaughtUp:    "never-caught-up",
}

// String is the kind's name, e.g. "state-differs" ("" for NoFailure).
func (k FailureKind) String() string {
	if k < 0 || int(k) >= len(failureNames) {
		return fmt.Sprintf("FailureKind(%d)", int(k))
	}
	return failureNames[k]
}

// MarshalText renders the kind by its name, for JSON.
func (k FailureKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind's name back.
func (k *FailureKind) UnmarshalText(b []byte) error {
	for i, n := range failureNames {
		if n == string(b) {
			*k = FailureKind(i)
			return nil
		}
	}
	return fmt.Errorf("properties: no failure kind %q; want one of %q", b, failureNames[1:])
}

// finding is a violation found by judging one scenario.
type finding struct {
	kind    FailureKind
	summary string // one sentence, for people
	diff    *trial.Diff
	obs     *trial.Observation
	// shared: obs is a run two laws judged, its sandbox already released.
	shared bool
}

// The sentences a finding or a report says, one function each.

// stateDiffersFinding: the final state differs from the clean run's.
func stateDiffersFinding(law harness.Law, d *trial.Diff) *finding {
	what := tables(d)
	if d.OnlySurrogateKeys {
		what += " (only in surrogate key columns)"
	}
	return &finding{kind: StateDiffers, summary: specOf(law).violated + ": " + what, diff: d}
}

// fullRefreshFinding: the full refresh differs from the batches applied
// one by one (IncrementalEquivalence).
func fullRefreshFinding(d *trial.Diff) *finding {
	return &finding{kind: StateDiffers, summary: specOf(harness.IncrementalEquivalence).violated + ": " + tables(d), diff: d}
}

// partialCrashFinding: a crash left a state that is neither the state
// before the batch (d, against it) nor after it (CrashAtomicity).
func partialCrashFinding(cr trial.CrashState, batch string, d *trial.Diff) *finding {
	return &finding{kind: StateDiffers, diff: d, summary: fmt.Sprintf("after %s in attempt %d of batch %s, the state is neither the state before the batch nor after it: %s (against the state before the batch)",
		cr.Fault, cr.Attempt, batch, tables(d))}
}

// neverAckedFinding: the writer failed on every attempt of batch.
func neverAckedFinding(batch, lastErr string) *finding {
	return &finding{kind: BatchNeverAcked, summary: fmt.Sprintf("the writer fails on every attempt of batch %s (attempt bound reached): %s", batch, lastErr)}
}

// determinismFinding: two clean runs differ, as Determinism found it.
func determinismFinding(d *trial.Diff) *finding {
	return &finding{kind: Nondeterministic, diff: d,
		summary: specOf(harness.Determinism).violated + " " + columnsOf(d)}
}

// nondeterministicFinding: two clean runs differ, found while confirming
// another law's failure.
func nondeterministicFinding(d *trial.Diff) *finding {
	return &finding{kind: Nondeterministic, diff: d,
		summary: "the writer is nondeterministic: two clean runs of the same batches differ " + columnsOf(d) + "; fix that first, every other verdict is noise"}
}

// notReproduced is why a law whose failing trial did not fail again is
// inconclusive.
func notReproduced(f *finding) string {
	return "a failing trial did not fail again when re-run: the writer or the environment is nondeterministic (" + f.summary + ")"
}

// stoppedByNondeterminism is why the laws other than the one that found
// the writer nondeterministic are not run.
func stoppedByNondeterminism(cols []string) string {
	return "the writer is nondeterministic (two clean runs of the same batches differ" + ignoreColumnsHint(cols) + "); every other verdict would be noise"
}

// notRunBecause is why a law was not run: what stopped the check.
func notRunBecause(why string) string { return "not run: " + why }

// serverGoneDuring is why a law that was done (with verdict v) is
// inconclusive once the server went away during the run (gone says why):
// which laws finished before it depends on timing.
func serverGoneDuring(v Verdict, gone string) string {
	return fmt.Sprintf("%s before the server went away during the run, so the certificate is void (which laws finished first depends on timing): %s", v, gone)
}

// trialNotRun is why a law is inconclusive when one of its trials could
// not be run.
func trialNotRun(err error) string { return "a trial could not be run: " + err.Error() }

// failFastStop is why FailFast stopped the other laws.
func failFastStop(law harness.Law) string {
	return "fail-fast stopped at the first violated law, " + string(law)
}

// columnsOf names the columns in which two clean runs differ, or the
// tables when no changed row names any.
func columnsOf(d *trial.Diff) string {
	names := changedColumns(d)
	if len(names) == 0 {
		return "(" + tables(d) + ")"
	}
	return "in columns " + strings.Join(names, ", ") + ": the writer is nondeterministic (now(), random ids, unordered aggregates?)"
}

// ignoreColumnsHint names the columns two clean runs differ in and the
// comparison option that would leave them out ("" when none are known).
func ignoreColumnsHint(cols []string) string {
	if len(cols) == 0 {
		return ""
	}
	return " in " + strings.Join(cols, ", ") + "; if they are load stamps, compare without them: trial.IgnoreColumns(\"" +
		strings.Join(cols, "\", \"") + "\"), or --ignore-column " + strings.Join(cols, " --ignore-column ")
}

// tables joins the per-table summaries of a diff.
func tables(d *trial.Diff) string {
	var parts []string
	for _, t := range d.Tables {
		parts = append(parts, t.Summary())
	}
	return strings.Join(parts, "; ")
}

// changedColumns lists the table.column names a diff's changed rows
// differ in.
func changedColumns(d *trial.Diff) []string {
	cols := map[string]bool{}
	var names []string
	for _, t := range d.Tables {
		for _, ch := range t.Changed {
			for _, c := range ch.Columns {
				if n := t.Table + "." + c; !cols[n] {
					cols[n] = true
					names = append(names, n)
				}
			}
		}
	}
	return names
}

// rowsFinding names what a consumer's faulty state did to the clean one's
// rows (d, against clean): lost, duplicated, wrong, in that order of
// precedence, with every count in the summary.
func rowsFinding(clean *trial.State, d *trial.Diff) *finding {
	var lost, dup, wrong int
	for _, td := range d.Tables {
		had := map[string]bool{}
		if t := clean.Tables[td.Table]; t != nil {
			for _, r := range t.Rows {
				had[fmt.Sprint(r)] = true
			}
		}
		for _, m := range td.Missing {
			lost += m.Count
		}
		for _, e := range td.Extra {
			if had[fmt.Sprint(e.Row)] {
				dup += e.Count
			} else {
				wrong += e.Count
			}
		}
		wrong += len(td.Changed)
	}
	var parts []string
	kind := WrongValues
	if wrong > 0 {
		parts = append(parts, fmt.Sprintf("%d row(s) with values the clean run does not have", wrong))
	}
	if dup > 0 {
		kind = DuplicatedRows
		parts = append([]string{fmt.Sprintf("%d row(s) duplicated", dup)}, parts...)
	}
	if lost > 0 {
		kind = LostRows
		parts = append([]string{fmt.Sprintf("%d row(s) lost", lost)}, parts...)
	}
	if len(parts) == 0 {
		parts = append(parts, tables(d))
	}
	return &finding{kind: kind, diff: d, summary: "the consumer's state differs from one clean run's: " + strings.Join(parts, ", ")}
}
