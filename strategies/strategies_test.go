package strategies

import (
	"fmt"
	"slices"
	"testing"

	"github.com/idemcheck/idemcheck/faults"
	"github.com/idemcheck/idemcheck/harness"
	"pgregory.net/rapid"
)

// conv is a conversation as the proxy records it for a writer that sets
// a session parameter, loads a batch by COPY, then in one transaction
// takes a lock (a read), deletes and inserts, and commits.
var conv = Conversation{
	{Conn: 1, Round: 1, SQL: "SET application_name = 'w'", Before: 'I', After: 'I'},
	{Conn: 1, Round: 2, SQL: "COPY staging FROM STDIN", Before: 'I', After: 'I', Commit: 1, Copy: 1, CopyData: 3, Committed: true},
	{Conn: 1, Round: 3, SQL: "BEGIN", Before: 'I', After: 'T'},
	{Conn: 1, Round: 4, SQL: "SELECT pg_advisory_xact_lock(1)", Before: 'T', After: 'T', Tx: 1, Stmt: 1},
	{Conn: 1, Round: 5, SQL: "DELETE FROM t", Before: 'T', After: 'T', Tx: 1, Stmt: 2},
	{Conn: 1, Round: 6, SQL: "INSERT INTO t SELECT * FROM staging", Before: 'T', After: 'T', Tx: 1, Stmt: 3},
	{Conn: 1, Round: 7, SQL: "COMMIT", Before: 'T', After: 'I', Tx: 1, Stmt: 4, Commit: 2, Committed: true},
}

func TestConversationCounts(t *testing.T) {
	if r, c, p := conv.Rounds(), conv.Commits(), conv.Copies(); r != 7 || c != 2 || p != 1 {
		t.Errorf("rounds %d, commits %d, copies %d; want 7, 2, 1", r, c, p)
	}
	if p, _ := conv.LastCommit(); p != faults.AtCommit(2) {
		t.Errorf("last commit %s", p)
	}
	if p, _ := SecondToLastCommit(conv); p != faults.AtCommit(1) {
		t.Errorf("second to last commit %s", p)
	}
	if _, ok := (Conversation{}).LastCommit(); ok {
		t.Error("an empty conversation has a last commit")
	}
	if got := Shape(conv[4]); got != "round 5 (DELETE)" {
		t.Errorf("shape %q", got)
	}
}

// Every drawn fault names a point the conversation has, so it fires when
// the faulty attempt talks like the clean one; and the last commit and
// the last round are drawn as well as the first. The draws use fixed
// seeds (rapid's examples 0..999), so the test cannot pass or fail by
// luck.
func TestDrawnFaultsFire(t *testing.T) {
	var lastCommit, firstRound, lastRound bool
	gen := CrashIn(conv)
	for i := range 1000 {
		f := gen.Example(i)
		at := f.At
		switch {
		case at.Commit > 0:
			if at.Commit > conv.Commits() {
				t.Fatalf("%s: the conversation has %d commits", f, conv.Commits())
			}
			lastCommit = lastCommit || at.Commit == conv.Commits()
		case at.Copy > 0:
			if at.Copy > conv.Copies() || f.CopyData > conv.copyData(at.Copy) {
				t.Fatalf("%s: the conversation has %d copies", f, conv.Copies())
			}
		case at.Round > 0:
			if at.Round > conv.Rounds() {
				t.Fatalf("%s: the conversation has %d rounds", f, conv.Rounds())
			}
			firstRound = firstRound || at.Round == 1
			lastRound = lastRound || at.Round == conv.Rounds()
		default:
			t.Fatalf("%s names no point", f)
		}
	}
	if !lastCommit || !firstRound || !lastRound {
		t.Errorf("1000 draws never hit: last commit %v, first round %v, last round %v", lastCommit, firstRound, lastRound)
	}
}

// Exhaustive mode tries one crash per class of crash points and the
// errors a writer may handle at every round (no round repeats here); it
// collapses the rest.
func TestCrashesEnumerateEveryClass(t *testing.T) {
	fs, collapsed := Crashes(conv)
	count := map[faults.Kind]int{}
	seen := map[string]bool{}
	for _, f := range fs {
		count[f.Kind]++
		if seen[f.String()] {
			t.Errorf("%s twice", f)
		}
		seen[f.String()] = true
	}
	// Classes: before the first step, after the COPY, after the DELETE,
	// after the INSERT, after the COMMIT. Errors: 40001 and 40P01 at 7
	// rounds. Every point: crash before and after 7 rounds, inside the
	// COPY after 0..3 CopyData, 4 errors at 7 rounds: 46.
	if count[faults.CrashBefore] != 1 || count[faults.CrashAfter] != 4 || count[faults.CrashInCopy] != 0 || count[faults.Error] != 14 || collapsed != 46-19 {
		t.Errorf("counts %v, collapsed %d", count, collapsed)
	}
	for _, want := range []string{"crash-before at round 1", "crash-after at commit 1", "crash-after at round 5", "crash-after at round 6", "crash-after at commit 2", "error 40001 at round 7"} {
		if !seen[want] {
			t.Errorf("no %s", want)
		}
	}
}

// CrashPoints folds the points between two steps into one class, and a
// loop's repetitions into its first, a middle and its last.
func TestCrashPointClasses(t *testing.T) {
	classes := map[string]string{}
	for _, p := range CrashPoints(conv) {
		classes[p.Name] = p.Class
	}
	same := [][]string{
		{"crash-before at round 1 (SET)", "crash-after at round 1 (SET)", "crash-before at round 2 (COPY)", "crash-in-copy at round 2 (COPY)"},
		{"crash-after at round 2 (COPY)", "crash-before at round 3 (BEGIN)", "crash-after at round 4 (SELECT)", "crash-before at round 5 (DELETE)"},
		{"crash-after at round 6 (INSERT)", "crash-before at round 7 (COMMIT)"},
	}
	for _, names := range same {
		for _, n := range names[1:] {
			if classes[n] == "" || classes[n] != classes[names[0]] {
				t.Errorf("%s is in class %q, %s in %q", n, classes[n], names[0], classes[names[0]])
			}
		}
	}
	if c := classes["crash-before at round 1 (SET)"]; c != BeforeFirstStep {
		t.Errorf("the first point is in %q", c)
	}
	if classes["crash-after at round 5 (DELETE)"] == classes["crash-after at round 6 (INSERT)"] {
		t.Error("two steps in one class")
	}

	// A transaction per record, for 2, 5 and 9 records: the same classes.
	perRecord := func(n int) Conversation {
		c := Conversation{{Conn: 1, Round: 1, SQL: "SELECT version()", Before: 'I', After: 'I'}}
		for i := range n {
			r := len(c) + 1
			c = append(c,
				faults.Event{Conn: 1, Round: r, SQL: "BEGIN", Before: 'I', After: 'T'},
				faults.Event{Conn: 1, Round: r + 1, SQL: fmt.Sprintf("INSERT INTO t VALUES (%d)", i), Before: 'T', After: 'T'},
				faults.Event{Conn: 1, Round: r + 2, SQL: "COMMIT", Before: 'T', After: 'I', Commit: i + 1})
		}
		return c
	}
	classesOf := func(c Conversation) []string {
		var out []string
		for _, g := range byClass(CrashPoints(c)) {
			out = append(out, g[0].Class)
		}
		return out
	}
	want := classesOf(perRecord(5))
	if len(want) != 1+2*3 { // before; INSERT and COMMIT of the first, a middle and the last transaction
		t.Errorf("%d classes: %q", len(want), want)
	}
	if got := classesOf(perRecord(9)); !slices.Equal(got, want) {
		t.Errorf("9 records: %q\n5 records: %q", got, want)
	}
	if got := classesOf(perRecord(2)); len(got) != 1+2*2 {
		t.Errorf("2 records: %q", got)
	}
}

// Batches the writer sends nothing for (empty ones) give deliveries
// without faults, and the generators still draw (rapid refuses a
// generator that draws nothing).
func TestNoConversationNoFaults(t *testing.T) {
	empty := []Conversation{nil, {}}
	rapid.Check(t, func(t *rapid.T) {
		ds := InOrder(2, func(i int) *rapid.Generator[[]harness.AttemptPlan] { return Attempts(empty[i], 2) }).Draw(t, "in-order")
		zs := Zombies(empty).Draw(t, "zombies")
		ls := LostAcks(empty).Draw(t, "lost-acks")
		for _, d := range append(append(ds, zs...), ls...) {
			for _, a := range d.Attempts {
				if len(a.Wire) > 0 || a.Zombie != nil {
					t.Fatalf("a fault planned for a batch without a conversation: %+v", d)
				}
			}
		}
	})
}
