package strategies

import (
	"fmt"
	"strings"

	"github.com/idemcheck/idemcheck/faults"
	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/internal/sqlsplit"
	"pgregory.net/rapid"
)

// Conversation is what one clean attempt of a batch said to the server,
// round by round, as the fault proxy numbered it: the map fault points
// are drawn from. A faulty attempt meets the same points as long as its
// conversation follows the clean one; where it diverges (the retry of a
// half-done batch may say less, or say it in another order) a drawn point
// may not be reached, and its timeline shows that.
type Conversation []faults.Event

// Rounds is the number of rounds.
func (c Conversation) Rounds() int { return c.highest(func(e faults.Event) int { return e.Round }) }

// Commits is the number of committing rounds (a COMMIT, or a write outside
// a transaction block), as the proxy counts them when a round begins.
func (c Conversation) Commits() int { return c.highest(func(e faults.Event) int { return e.Commit }) }

// Copies is the number of COPY FROM STDIN rounds.
func (c Conversation) Copies() int { return c.highest(func(e faults.Event) int { return e.Copy }) }

func (c Conversation) highest(f func(faults.Event) int) int {
	n := 0
	for _, e := range c {
		n = max(n, f(e))
	}
	return n
}

// copyData is how many CopyData messages the k-th COPY sent.
func (c Conversation) copyData(k int) int {
	for _, e := range c {
		if e.Copy == k {
			return e.CopyData
		}
	}
	return 0
}

// LastCommit is the point of the last committing round, or of the last
// round when none commits (a conversation with no round has none: ok is
// false).
func (c Conversation) LastCommit() (p faults.Point, ok bool) {
	if n := c.Commits(); n > 0 {
		return faults.AtCommit(n), true
	}
	if n := c.Rounds(); n > 0 {
		return faults.AtRound(n), true
	}
	return faults.Point{}, false
}

// FirstCommit is the point of the first committing round, or of the first
// round when none commits.
func (c Conversation) FirstCommit() (p faults.Point, ok bool) {
	if c.Commits() > 0 {
		return faults.AtCommit(1), true
	}
	if c.Rounds() > 0 {
		return faults.AtRound(1), true
	}
	return faults.Point{}, false
}

// Shape names a round for people and for coverage: its number and the
// leading keywords of its statements, e.g. "round 6 (DELETE)".
func Shape(e faults.Event) string {
	var kw []string
	for _, st := range sqlsplit.Split(e.SQL) {
		if k := sqlsplit.Keyword(st); k != "" && (len(kw) == 0 || kw[len(kw)-1] != k) {
			kw = append(kw, k)
		}
	}
	if len(kw) == 0 {
		return fmt.Sprintf("round %d", e.Round)
	}
	return fmt.Sprintf("round %d (%s)", e.Round, strings.Join(kw, "; "))
}

// nth draws 1..n: half the time counted from the first, half from the
// last, so the last rounds of a long conversation are drawn as often as
// the first ones; it shrinks toward the first.
func nth(t *rapid.T, n int, label string) int {
	fromEnd := rapid.Bool().Draw(t, label+"-from-end")
	i := rapid.IntRange(0, n-1).Draw(t, label)
	if fromEnd {
		return n - i
	}
	return i + 1
}

// crashPointIn draws a point of c: a committing round 6 times in 10 (commits
// are where idempotence breaks), a COPY 1 in 10 when there is one, any
// round otherwise; within each, the first and the last are as likely, so
// a dangerous last step is found as easily as a first one. A conversation
// without rounds gives round 1, which no attempt of it reaches.
func crashPointIn(c Conversation) *rapid.Generator[faults.Point] { return pointIn(c, 6) }

// stallPointIn draws a point of c for a zombie to stall at: a committing round
// 3 times in 10, any round otherwise (a stall anywhere can let a retry
// overtake), first and last as likely.
func stallPointIn(c Conversation) *rapid.Generator[faults.Point] { return pointIn(c, 3) }

// pointIn draws a committing round commitsIn10 times in 10, a COPY 1 in
// 10, any round otherwise.
func pointIn(c Conversation, commitsIn10 int) *rapid.Generator[faults.Point] {
	return rapid.Custom(func(t *rapid.T) faults.Point {
		rounds, commits, copies := c.Rounds(), c.Commits(), c.Copies()
		if rounds == 0 {
			return faults.AtRound(1)
		}
		switch k := rapid.IntRange(0, 9).Draw(t, "point"); {
		case k < commitsIn10 && commits > 0:
			return faults.AtCommit(nth(t, commits, "commit"))
		case k == 9 && copies > 0:
			return faults.AtCopy(rapid.IntRange(1, copies).Draw(t, "copy"))
		}
		return faults.AtRound(nth(t, rounds, "round"))
	})
}

// crashKinds are the fault kinds that end an attempt, simplest first.
var crashKinds = []faults.Kind{faults.CrashBefore, faults.CrashAfter, faults.CrashInCopy, faults.Error}

// CrashIn draws one fault that ends an attempt of c: a crash before or
// after a round, inside a COPY (after any of its CopyData messages), or a
// synthetic error.
//
// One time in three it draws by class instead (see CrashPoints): a class
// of c's crash points, all as likely, then one of its points, so that a
// class of few points (the commit after a long preamble, the last
// iteration of a loop) is crashed as often as one of many.
func CrashIn(c Conversation) *rapid.Generator[faults.Fault] {
	classes := byClass(CrashPoints(c))
	return rapid.Custom(func(t *rapid.T) faults.Fault {
		if len(classes) > 1 && rapid.IntRange(0, 2).Draw(t, "by-class") == 0 {
			f := drawClassed(t, classes, "crash").Fault
			if f.Kind == faults.CrashInCopy {
				f.CopyData = rapid.IntRange(0, c.copyData(f.At.Copy)).Draw(t, "copydata")
			}
			return f
		}
		kinds := crashKinds
		if c.Copies() == 0 {
			kinds = []faults.Kind{faults.CrashBefore, faults.CrashAfter, faults.Error}
		}
		f := faults.Fault{Kind: rapid.SampledFrom(kinds).Draw(t, "fault")}
		switch f.Kind {
		case faults.CrashInCopy:
			f.At = faults.AtCopy(rapid.IntRange(1, c.Copies()).Draw(t, "copy"))
			f.CopyData = rapid.IntRange(0, c.copyData(f.At.Copy)).Draw(t, "copydata")
		case faults.Error:
			f.SQLState = rapid.SampledFrom(sqlStates).Draw(t, "sqlstate")
			f.At = crashPointIn(c).Draw(t, "at")
		default:
			f.At = crashPointIn(c).Draw(t, "at")
		}
		return f
	})
}

var sqlStates = []string{"40001", "40P01", "57P01", "08006"}

// Attempts draws the plans of one delivery's failing attempts: 1..max
// attempts, each crashing by CrashIn(c); the attempt after them runs
// clean. Without a conversation to crash (a batch the writer sends
// nothing for) it returns nil: there is nothing to draw.
func Attempts(c Conversation, max int) *rapid.Generator[[]harness.AttemptPlan] {
	if c.Rounds() == 0 {
		return nil
	}
	return rapid.Custom(func(t *rapid.T) []harness.AttemptPlan {
		n := rapid.IntRange(1, max).Draw(t, "failing-attempts")
		out := make([]harness.AttemptPlan, n)
		for i := range out {
			out[i] = harness.AttemptPlan{Wire: faults.Plan{CrashIn(c).Draw(t, fmt.Sprintf("attempt%d", i+1))}}
		}
		return out
	})
}

// InOrder delivers each batch once in canonical order; plans(i) draws the
// attempt plans of batch i's delivery (a nil generator: none).
func InOrder(n int, plans func(batch int) *rapid.Generator[[]harness.AttemptPlan]) *rapid.Generator[[]harness.Delivery] {
	return rapid.Custom(func(t *rapid.T) []harness.Delivery {
		// rapid wants every generator to draw something, even when no
		// batch has a conversation to crash.
		rapid.Just(0).Draw(t, "in-order")
		out := make([]harness.Delivery, n)
		for i := range out {
			out[i] = harness.Delivery{Batch: i}
			if g := plans(i); g != nil {
				out[i].Attempts = g.Draw(t, fmt.Sprintf("d%d", i+1))
			}
		}
		return out
	})
}

// LostAcks delivers in canonical order; any attempt may succeed with its
// ack lost, or crash after a committing round ran (the ambiguous commit:
// the commit is drawn from the batch's conversation, the last as likely as
// the first, or half the time by class, as CrashIn draws).
func LostAcks(convs []Conversation) *rapid.Generator[[]harness.Delivery] {
	return rapid.Custom(func(t *rapid.T) []harness.Delivery {
		out := make([]harness.Delivery, len(convs))
		for i, c := range convs {
			out[i] = harness.Delivery{Batch: i}
			k := rapid.IntRange(0, 2).Draw(t, fmt.Sprintf("d%d-lost", i+1))
			for j := 0; j < k; j++ {
				if c.Commits() > 0 && rapid.Bool().Draw(t, fmt.Sprintf("d%d-a%d-ambiguous", i+1, j+1)) {
					at := faults.AtCommit(nth(t, c.Commits(), fmt.Sprintf("d%d-a%d-commit", i+1, j+1)))
					if classes := byClass(CommitPoints(c)); len(classes) > 1 && rapid.Bool().Draw(t, fmt.Sprintf("d%d-a%d-by-class", i+1, j+1)) {
						at = drawClassed(t, classes, fmt.Sprintf("d%d-a%d-commit", i+1, j+1)).Fault.At
					}
					out[i].Attempts = append(out[i].Attempts, harness.AttemptPlan{Wire: faults.Plan{{Kind: faults.CrashAfter, At: at}}})
				} else {
					out[i].Attempts = append(out[i].Attempts, harness.AttemptPlan{LostAck: true})
				}
			}
		}
		return out
	})
}

// Zombies delivers in canonical order; some deliveries' first attempt
// stalls at a point drawn from its batch's conversation (one time in
// three by class of StallPoints, as CrashIn draws: more often, and the
// draw's weight on commits, which finds zombie bugs, was missed) while
// its retry runs, then resumes or is killed. At least one delivery with a
// conversation has a zombie.
func Zombies(convs []Conversation) *rapid.Generator[[]harness.Delivery] {
	return rapid.Custom(func(t *rapid.T) []harness.Delivery {
		out := make([]harness.Delivery, len(convs))
		last := -1
		for i, c := range convs {
			if c.Rounds() > 0 {
				last = i
			}
		}
		any := false
		for i, c := range convs {
			out[i] = harness.Delivery{Batch: i}
			zombie := rapid.Bool().Draw(t, fmt.Sprintf("d%d-zombie", i+1))
			if c.Rounds() == 0 {
				continue // nothing to stall at
			}
			if zombie || (i == last && !any) {
				any = true
				at := stallPointIn(c).Draw(t, fmt.Sprintf("d%d-stall", i+1))
				if classes := byClass(StallPoints(c)); len(classes) > 1 && rapid.IntRange(0, 2).Draw(t, fmt.Sprintf("d%d-by-class", i+1)) == 0 {
					at = drawClassed(t, classes, fmt.Sprintf("d%d-stall", i+1)).Fault.At
				}
				z := &harness.Zombie{At: at, Kill: rapid.Bool().Draw(t, fmt.Sprintf("d%d-kill", i+1))}
				out[i].Attempts = []harness.AttemptPlan{{Zombie: z}}
			}
		}
		return out
	})
}

// Replays delivers each batch 1..maxTimes times in a row, in canonical
// order.
func Replays(n, maxTimes int) *rapid.Generator[[]harness.Delivery] {
	return rapid.Custom(func(t *rapid.T) []harness.Delivery {
		var out []harness.Delivery
		for i := 0; i < n; i++ {
			k := rapid.IntRange(1, maxTimes).Draw(t, fmt.Sprintf("times-b%d", i+1))
			for range k {
				out = append(out, harness.Delivery{Batch: i})
			}
		}
		return out
	})
}

// Shuffled delivers every batch at least once, some twice, in any order.
func Shuffled(n int) *rapid.Generator[[]harness.Delivery] {
	return rapid.Custom(func(t *rapid.T) []harness.Delivery {
		idx := make([]int, 0, 2*n)
		for i := 0; i < n; i++ {
			idx = append(idx, i)
		}
		idx = append(idx, rapid.SliceOfN(rapid.IntRange(0, n-1), 0, n).Draw(t, "duplicates")...)
		perm := rapid.Permutation(idx).Draw(t, "order")
		out := make([]harness.Delivery, len(perm))
		for i, b := range perm {
			out[i] = harness.Delivery{Batch: b}
		}
		return out
	})
}
