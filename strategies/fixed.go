package strategies

import (
	"github.com/idemcheck/idemcheck/faults"
	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/internal/sqlsplit"
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

// Crashes lists every single fault that ends an attempt of c, one per
// distinct point: crash-before and crash-after at every round (a
// committing round's crash-after named by its commit, the ambiguous
// commit), crash-in-copy after each CopyData message of every COPY, and
// each synthetic error at every round. A crash before a round inside an
// open transaction that has not written yet leaves the same state as a
// crash before the round that opened it (the server rolls the transaction
// back, and nothing in it wrote), so those points are collapsed into that
// one; collapsed counts them.
func Crashes(c Conversation) (fs []faults.Fault, collapsed int) {
	opened := map[int]bool{} // per connection: a transaction is open and has not written
	for _, e := range c {
		readOnlyTx := (e.Before == 'T' || e.Before == 'E') && opened[e.Conn]
		if readOnlyTx {
			collapsed++
		} else {
			fs = append(fs, faults.Fault{Kind: faults.CrashBefore, At: faults.AtRound(e.Round)})
		}
		after := faults.AtRound(e.Round)
		if e.Commit > 0 {
			after = faults.AtCommit(e.Commit)
		}
		fs = append(fs, faults.Fault{Kind: faults.CrashAfter, At: after})
		if e.Copy > 0 {
			for n := 0; n <= e.CopyData; n++ {
				fs = append(fs, faults.Fault{Kind: faults.CrashInCopy, CopyData: n, At: faults.AtCopy(e.Copy)})
			}
		}
		for _, st := range sqlStates {
			fs = append(fs, faults.Fault{Kind: faults.Error, SQLState: st, At: faults.AtRound(e.Round)})
		}
		switch {
		case e.Before == 'I' && e.After == 'T':
			opened[e.Conn] = !writesIn(e.SQL)
		case e.After != 'T' && e.After != 'E':
			opened[e.Conn] = false
		case writesIn(e.SQL):
			opened[e.Conn] = false
		}
	}
	return fs, collapsed
}

// writesIn reports whether a round's statements may write (anything but
// reads and session commands).
func writesIn(sql string) bool {
	for _, st := range sqlsplit.Split(sql) {
		if sqlsplit.Writes(st) && !sqlsplit.IsCommit(st) {
			return true
		}
	}
	return false
}

// AmbiguousCommits lists a crash after every committing round of c: the
// commit ran, its reply is lost.
func AmbiguousCommits(c Conversation) []faults.Fault {
	var fs []faults.Fault
	for k := 1; k <= c.Commits(); k++ {
		fs = append(fs, faults.Fault{Kind: faults.CrashAfter, At: faults.AtCommit(k)})
	}
	return fs
}

// Stalls lists every round of c as a point a zombie can stall at.
func Stalls(c Conversation) []faults.Point {
	var ps []faults.Point
	for _, e := range c {
		ps = append(ps, faults.AtRound(e.Round))
	}
	return ps
}
