package strategies

import (
	"github.com/idemcheck/idemcheck/faults"
	"github.com/idemcheck/idemcheck/harness"
)

// This file holds the fixed scenarios: the smoke scenarios every law runs
// before its random trials, and the enumeration of exhaustive mode.

// EachDelivery delivers every batch once, in canonical order, the attempts
// of batch i planned by plan(convs[i]) (nil: no fault).
func EachDelivery(convs []Conversation, plan func(Conversation) []harness.AttemptPlan) []harness.Delivery {
	out := make([]harness.Delivery, len(convs))
	for i, c := range convs {
		out[i] = harness.Delivery{Batch: i, Attempts: plan(c)}
	}
	return out
}

// Twice delivers every batch twice in a row, in canonical order.
func Twice(n int) []harness.Delivery {
	out := make([]harness.Delivery, 0, 2*n)
	for i := range n {
		out = append(out, harness.Delivery{Batch: i}, harness.Delivery{Batch: i})
	}
	return out
}

// Reversed delivers every batch once, the last first.
func Reversed(n int) []harness.Delivery {
	out := make([]harness.Delivery, n)
	for i := range out {
		out[i] = harness.Delivery{Batch: n - 1 - i}
	}
	return out
}

// Crash plans one failing attempt: kind at the point at picks from the
// conversation (nothing when it has no such point).
func Crash(kind faults.Kind, at func(Conversation) (faults.Point, bool)) func(Conversation) []harness.AttemptPlan {
	return func(c Conversation) []harness.AttemptPlan {
		p, ok := at(c)
		if !ok {
			return nil
		}
		return []harness.AttemptPlan{{Wire: faults.Plan{{Kind: kind, At: p}}}}
	}
}

// Stall plans a zombie: the first attempt stalls at the point at picks,
// its retry runs, then it resumes (or is killed).
func Stall(at func(Conversation) (faults.Point, bool), kill bool) func(Conversation) []harness.AttemptPlan {
	return func(c Conversation) []harness.AttemptPlan {
		p, ok := at(c)
		if !ok {
			return nil
		}
		return []harness.AttemptPlan{{Zombie: &harness.Zombie{At: p, Kill: kill}}}
	}
}

// LostAck plans one attempt that succeeds with its ack lost.
func LostAck(Conversation) []harness.AttemptPlan {
	return []harness.AttemptPlan{{LostAck: true}}
}

// LastCommit, FirstCommit and SecondToLastCommit pick a point of a
// conversation, for Crash and Stall.
func LastCommit(c Conversation) (faults.Point, bool)  { return c.LastCommit() }
func FirstCommit(c Conversation) (faults.Point, bool) { return c.FirstCommit() }

// SecondToLastCommit is the commit before the last: a crash after it
// falls between the last two commits.
func SecondToLastCommit(c Conversation) (faults.Point, bool) {
	if n := c.Commits(); n >= 2 {
		return faults.AtCommit(n - 1), true
	}
	return faults.Point{}, false
}

// Crashes lists the single faults exhaustive mode tries on an attempt of
// c: one crash per class of CrashPoints (the first point of each, in
// conversation order: the crash before the first round for the class
// before the first step, the crash right after the step for the others,
// the ambiguous commit for a committing one), and the synthetic errors
// that the writer may handle (40001, 40P01) at one round per class of
// StallPoints (every round but a loop's repetitions). The other points
// leave a state one of these leaves (see CrashPoints; 57P01 and 08006 end
// the attempt as a crash before their round does), and collapsed counts
// them: every crash before and after each round, inside each COPY after
// each CopyData, and each synthetic error at each round, less those run.
func Crashes(c Conversation) (fs []faults.Fault, collapsed int) {
	for _, g := range byClass(CrashPoints(c)) {
		fs = append(fs, g[0].Fault)
	}
	for _, g := range byClass(StallPoints(c)) {
		for _, st := range handledErrors {
			fs = append(fs, faults.Fault{Kind: faults.Error, SQLState: st, At: faults.AtRound(g[0].Round)})
		}
	}
	every := 0
	for _, e := range c {
		every += 2 + len(sqlStates) // crash before, crash after, each error
		if e.Copy > 0 {
			every += e.CopyData + 1
		}
	}
	return fs, every - len(fs)
}

// handledErrors are the synthetic errors a writer may handle and go on
// from (serialization failure, deadlock): where they hit matters beyond
// what is committed.
var handledErrors = []string{"40001", "40P01"}

// Representatives is one point of each class of points (the first of
// each, in conversation order), for exhaustive mode, and how many points
// they stand for besides themselves.
func Representatives(points []ClassedPoint) (reps []ClassedPoint, collapsed int) {
	for _, g := range byClass(points) {
		reps = append(reps, g[0])
	}
	return reps, len(points) - len(reps)
}
