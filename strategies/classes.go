package strategies

import (
	"fmt"
	"sort"
	"strings"

	"github.com/idemcheck/idemcheck/faults"
	"github.com/idemcheck/idemcheck/internal/sqlsplit"
	"pgregory.net/rapid"
)

// Equivalent crash points. A crash's consequence is what the database
// holds when the connection dies: the open transaction rolls back;
// session state, temporary tables, advisory locks and prepared statements
// die with the session; what the attempt committed stays, and so does
// what never rolls back (a sequence's nextval). So two crash points of an
// attempt leave the same state when no round between them can change
// anything that outlives the crash: such rounds are a step (a round that
// writes, in a transaction or not, since a rolled-back write may still
// have drawn from a sequence; a round that commits; one that calls
// nextval or setval). Every crash point between two steps is one class:
//
//   - every point before an attempt's first step (a client library's
//     connection preamble, BEGIN, reads) is the class "before the first
//     step": nothing of the attempt outlives a crash there;
//   - a crash after a round and a crash before the round after it are the
//     same point; a crash inside a COPY is a crash before it (the COPY
//     rolls back);
//   - reads between steps (in a transaction or not) change nothing, so
//     they add no class.
//
// Those rules are exact for the tables idemcheck compares, with one
// limit: a SELECT that calls a function with side effects (other than
// nextval and setval) is taken as a read.
//
// Loops: the rounds of a batch's records repeat (an INSERT per record in
// one transaction, or a transaction per record), and a conversation's
// steps grow with the batch. Repeated steps (the same statement shapes,
// in the same transaction state) fold into their first, a middle and
// their last iteration, whatever the batch's size, so that coverage
// counts what a writer does, not how many records it was given. This rule
// is an assumption, not an identity: it takes the iterations of a loop to
// behave alike (a writer whose 5th record is special is found by the
// random trials, which still crash at any round, not by coverage).

// ClassedPoint is one fault point of a conversation with the class of
// points it is equivalent to.
type ClassedPoint struct {
	Fault faults.Fault // the fault and where: a plan for one attempt
	Round int          // the round it is at
	Name  string       // the point, e.g. "crash-after at round 6 (DELETE)"
	Class string       // its class, e.g. "after step 2 (DELETE FROM orders)"
}

// BeforeFirstStep is the class of the crash points before an attempt's
// first step.
const BeforeFirstStep = "before the first step"

// CrashPoints lists the crash points of c (a crash before and after every
// round, and inside every COPY), each with its class.
func CrashPoints(c Conversation) []ClassedPoint { return crashPoints(c, foldLoops) }

// StreamCrashPoints is CrashPoints for a consumer's conversation: the
// handling of one message (or poll) after another, as they come, so
// that where a step falls in the stream says nothing. A class is the
// last step before the point by what it does, its statements' leading
// words and the transaction state it ran in ("after INSERT INTO
// order_events [T]"), wherever it came: a message found applied already
// (its handling shorter) leaves the other messages' steps in their
// classes, which CrashPoints' loop rule would number apart.
func StreamCrashPoints(c Conversation) []ClassedPoint {
	return crashPoints(c, func(rounds []faults.Event, idx []int) []string {
		names := make([]string, len(idx))
		for p, i := range idx {
			names[p] = fingerprint(rounds[i]) + " [" + string(statusOr(rounds[i].Before)) + "]"
		}
		return names
	})
}

// crashPoints lists c's crash points, classed by the names name gives
// its steps.
func crashPoints(c Conversation, name func(rounds []faults.Event, steps []int) []string) []ClassedPoint {
	rounds := sortedRounds(c)
	var steps []int // indexes of the rounds that are steps
	for i, e := range rounds {
		if isStep(e) {
			steps = append(steps, i)
		}
	}
	names := name(rounds, steps)
	// class of the state after the k-th step (k = -1: before the first)
	classOf := func(k int) string {
		if k < 0 {
			return BeforeFirstStep
		}
		return "after " + names[k]
	}
	var out []ClassedPoint
	last := -1 // the last step at or before round i
	for i, e := range rounds {
		before := classOf(last)
		if last+1 < len(steps) && steps[last+1] == i {
			last++
		}
		after := classOf(last)
		shape := Shape(e)
		out = append(out, ClassedPoint{Fault: faults.Fault{Kind: faults.CrashBefore, At: faults.AtRound(e.Round)}, Round: e.Round,
			Name: pointName(faults.CrashBefore, shape), Class: before})
		at := faults.AtRound(e.Round)
		if e.Commit > 0 {
			at = faults.AtCommit(e.Commit)
		}
		out = append(out, ClassedPoint{Fault: faults.Fault{Kind: faults.CrashAfter, At: at}, Round: e.Round,
			Name: pointName(faults.CrashAfter, shape), Class: after})
		if e.Copy > 0 {
			out = append(out, ClassedPoint{Fault: faults.Fault{Kind: faults.CrashInCopy, At: faults.AtCopy(e.Copy)}, Round: e.Round,
				Name: pointName(faults.CrashInCopy, shape), Class: before})
		}
	}
	return out
}

// CommitPoints lists the ambiguous commits of c (a crash after every
// committing round, its reply lost), each with its class (the class of
// CrashPoints' crash after that round).
func CommitPoints(c Conversation) []ClassedPoint {
	var out []ClassedPoint
	for _, p := range CrashPoints(c) {
		if p.Fault.Kind == faults.CrashAfter && p.Fault.At.Commit > 0 {
			out = append(out, p)
		}
	}
	return out
}

// StallPoints lists the points of c a zombie can stall at (before every
// round), each with its class. Only the loop rule folds them: where an
// attempt stalls decides what its retry overlaps (a stall between a read
// and the write that depends on it is the check-then-act race), so a
// read is a point of its own; a round's class is its shape, its
// transaction state and its place, with repeated rounds folded into
// first, middle and last.
func StallPoints(c Conversation) []ClassedPoint {
	rounds := sortedRounds(c)
	all := make([]int, len(rounds))
	for i := range rounds {
		all[i] = i
	}
	names := foldLoops(rounds, all)
	out := make([]ClassedPoint, len(rounds))
	for i, e := range rounds {
		out[i] = ClassedPoint{Fault: faults.Fault{Kind: faults.Pause, At: faults.AtRound(e.Round)}, Round: e.Round,
			Name: PointName(faults.Pause, e), Class: "stalled before " + names[i]}
	}
	return out
}

// PointName names the point of a fault of kind k at round e, as
// ClassedPoint.Name does: e.g. "crash-after at round 6 (DELETE)".
func PointName(k faults.Kind, e faults.Event) string { return pointName(k, Shape(e)) }

func pointName(k faults.Kind, shape string) string { return string(k) + " at " + shape }

func sortedRounds(c Conversation) []faults.Event {
	rounds := append([]faults.Event(nil), c...)
	sort.SliceStable(rounds, func(i, j int) bool { return rounds[i].Round < rounds[j].Round })
	return rounds
}

// isStep reports whether a round can change what outlives a crash: it
// commits, writes (a write that rolls back may still have drawn from a
// sequence) or calls nextval or setval.
func isStep(e faults.Event) bool {
	if e.Commit > 0 {
		return true
	}
	for _, st := range sqlsplit.Split(e.SQL) {
		switch k := sqlsplit.Keyword(st); {
		case k == "LOCK" || k == "SAVEPOINT" || k == "RELEASE":
			// held or undone within the transaction: nothing outlives it
		case sqlsplit.Writes(st):
			return true
		}
		lower := strings.ToLower(st)
		if strings.Contains(lower, "nextval") || strings.Contains(lower, "setval") {
			return true
		}
	}
	return false
}

// punctuation is what fingerprint reads as white space.
var punctuation = strings.NewReplacer("(", " ", ")", " ", ",", " ", ";", " ")

// fingerprint is what a round does, for telling repetitions apart: the
// leading words of each statement (keyword and object, e.g. "INSERT INTO
// orders"), without literals, and the transaction state it ran in.
func fingerprint(e faults.Event) string {
	var parts []string
	for _, st := range sqlsplit.Split(e.SQL) {
		words := strings.Fields(punctuation.Replace(st))
		if len(words) > 3 {
			words = words[:3]
		}
		if len(words) > 0 {
			words[0] = strings.ToUpper(words[0])
		}
		parts = append(parts, strings.Join(words, " "))
	}
	return strings.Join(parts, "; ")
}

// foldLoops names the rounds at idx (in conversation order) for their
// class: "step N.K (WHAT)", the K-th distinct round of the N-th distinct
// transaction, with the loop rule applied twice. The rounds are cut into
// transactions (a cut after each committing round); a run of identical
// transactions is a loop, and so is a run of identical rounds inside a
// transaction. A member of a loop is named by its loop's place and its
// own: first, middle (every one between) or last.
func foldLoops(rounds []faults.Event, idx []int) []string {
	var txs [][]int // positions in idx, cut after each commit
	cur := []int{}
	for p, i := range idx {
		cur = append(cur, p)
		if rounds[i].Commit > 0 {
			txs = append(txs, cur)
			cur = []int{}
		}
	}
	if len(cur) > 0 {
		txs = append(txs, cur)
	}
	prints, fps := make([]string, len(idx)), make([]string, len(idx)) // what each does; and in what transaction state
	for p, i := range idx {
		prints[p] = fingerprint(rounds[i])
		fps[p] = prints[p] + " [" + string(statusOr(rounds[i].Before)) + "]"
	}
	inners := make([]runs, len(txs))
	for t, tx := range txs {
		inners[t] = runsOf(len(tx), func(k int) string { return fps[tx[k]] })
	}
	outer := runsOf(len(txs), func(t int) string { return inners[t].signature })
	names := make([]string, len(idx))
	for t, tx := range txs {
		for k, p := range tx {
			name := fmt.Sprintf("step %d.%d (%s)", outer.run[t], inners[t].run[k], prints[p])
			var where []string
			if pos := inners[t].place[k]; pos != "" {
				where = append(where, pos+" of its repeated rounds")
			}
			if pos := outer.place[t]; pos != "" {
				where = append(where, "in the "+pos+" of its repeated transactions")
			}
			if len(where) > 0 {
				name += ", " + strings.Join(where, ", ")
			}
			names[p] = name
		}
	}
	return names
}

// runs is a sequence cut into runs of identical members: each member's
// run (from 1) and place in it, and the sequence's signature (its runs'
// keys).
type runs struct {
	run       []int
	place     []string
	signature string
}

// runsOf cuts the n members whose keys key gives into runs of identical
// keys.
func runsOf(n int, key func(int) string) runs {
	r := runs{run: make([]int, n), place: make([]string, n)}
	var keys []string
	for a := 0; a < n; {
		b := a
		for b < n && key(b) == key(a) {
			b++
		}
		for k := a; k < b; k++ {
			r.run[k], r.place[k] = len(keys)+1, place(k-a, b-a)
		}
		keys = append(keys, key(a))
		a = b
	}
	r.signature = strings.Join(keys, " | ")
	return r
}

// place names member i of a run of n: "" when n is 1, else "first",
// "middle" or "last".
func place(i, n int) string {
	switch {
	case n == 1:
		return ""
	case i == 0:
		return "first"
	case i == n-1:
		return "last"
	}
	return "middle"
}

func statusOr(b byte) byte {
	if b == 0 {
		return '?'
	}
	return b
}

// classGroup is the points of one class.
type classGroup []ClassedPoint

// byClass groups points by class, the classes in the order they first
// appear.
func byClass(points []ClassedPoint) []classGroup {
	index := map[string]int{}
	var out []classGroup
	for _, p := range points {
		i, ok := index[p.Class]
		if !ok {
			i = len(out)
			index[p.Class] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], p)
	}
	return out
}

// drawClassed draws a class, all as likely, then one of its points.
func drawClassed(t *rapid.T, classes []classGroup, label string) ClassedPoint {
	g := classes[rapid.IntRange(0, len(classes)-1).Draw(t, label+"-class")]
	return g[rapid.IntRange(0, len(g)-1).Draw(t, label+"-class-point")]
}
