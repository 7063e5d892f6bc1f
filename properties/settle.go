package properties

import (
	"errors"
	"fmt"
	"sync"

	"github.com/idemcheck/idemcheck/harness"
)

// checkLaws checks the laws run names (those claimed and selected; the
// others are NotClaimed) and returns every law's report in
// harness.AllLaws order, settled (settleLaws). The laws run concurrently,
// or one after another with FailFast (in order: the first violated law is
// the one the order names).
func (c *checker[R]) checkLaws(run map[harness.Law]bool) []LawReport {
	claimed := c.claims()
	laws := make([]LawReport, len(harness.AllLaws))
	var wg sync.WaitGroup
	for i, law := range harness.AllLaws {
		if !run[law] {
			why := c.writer + " does not claim it"
			if claimed[law] {
				why = "not selected"
			}
			laws[i] = LawReport{Law: law, Verdict: NotClaimed, Reason: why}
			continue
		}
		if c.set.failFast {
			laws[i] = c.checkLaw(law)
			continue
		}
		wg.Go(func() { laws[i] = c.checkLaw(law) })
	}
	wg.Wait()
	settleLaws(laws)
	return laws
}

// settleLaws applies the findings that settle a whole certificate to the
// laws of one run (NotClaimed ones included), whatever order the laws
// finished in. It is the one place this rule lives: Check and Certify
// call it on the laws they checked, Merge on the laws it merged.
//
//   - The server went away or restarted (a law's Failure is ServerGone):
//     every other claimed law is inconclusive, whether or not it was done
//     (which laws finished first depends on timing).
//   - The writer fails on some batch without any fault (WriterFails): the
//     law that found it says so; every other claimed law is inconclusive,
//     not run (trial i of every law draws the same batches, so every law
//     would hit the same batch).
//   - Two clean runs differ (Nondeterministic): every claimed law but the
//     one that found it (Determinism, when it did) is NotRun, whether or
//     not it was done: its verdict would be noise.
func settleLaws(laws []LawReport) {
	gone, fails, nondet := -1, -1, -1
	for i, lr := range laws {
		switch {
		case lr.Failure == ServerGone && gone < 0:
			gone = i
		case lr.Failure == WriterFails && fails < 0:
			fails = i
		case lr.Failure == Nondeterministic && (nondet < 0 || lr.Law == harness.Determinism):
			nondet = i // Determinism's own report, when it made one
		}
	}
	for i := range laws {
		lr := &laws[i]
		switch {
		case lr.Verdict == NotClaimed:
		case gone >= 0:
			if lr.Failure != ServerGone && lr.Failure != WriterFails {
				*lr = overtaken(*lr, laws[gone].Reason)
			}
		case fails >= 0:
			if i != fails {
				lr.Verdict, lr.Reason, lr.Failure = Inconclusive, notRunBecause(laws[fails].Reason), NoFailure
			}
		case nondet >= 0 && i != nondet:
			*lr = notRun(lr.Law, stoppedByNondeterminism(laws[nondet].NondeterministicColumns))
		}
	}
}

// overtaken is lr once the server went away during its run (gone says
// why): inconclusive, its counts kept when it was done.
func overtaken(lr LawReport, gone string) LawReport {
	if lr.Verdict == NotRun {
		return LawReport{Law: lr.Law, Verdict: Inconclusive, Reason: notRunBecause(gone)}
	}
	lr.Reason = serverGoneDuring(lr.Verdict, gone)
	lr.Verdict, lr.Failure, lr.Counterexample, lr.NondeterministicColumns = Inconclusive, NoFailure, nil, nil
	return lr
}

// lawsError is Check's error for settled laws: the server's going away
// (it wraps trial.ErrTargetGone), else the writer's failing without
// faults (it wraps ErrWriterFails), else every violated or inconclusive
// law's message joined.
func lawsError(laws []LawReport) error {
	for _, kind := range []FailureKind{ServerGone, WriterFails} {
		for _, lr := range laws {
			if lr.Failure == kind && lr.cause != nil {
				return lr.cause
			}
		}
	}
	var errs []error
	for _, lr := range laws {
		switch lr.Verdict {
		case Violated:
			errs = append(errs, fmt.Errorf("%s", lr.Counterexample))
		case Inconclusive:
			errs = append(errs, fmt.Errorf("%s inconclusive: %s", lr.Law, lr.Reason))
		}
	}
	return errors.Join(errs...)
}
