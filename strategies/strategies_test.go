package strategies

import (
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

// Exhaustive mode lists every point once; crash-before points inside the
// transaction before it wrote collapse into the one before BEGIN.
func TestCrashesEnumerateEveryPoint(t *testing.T) {
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
	// crash-before: 7 rounds less the lock and the DELETE (inside the
	// transaction, before it wrote); crash-after: 7; crash-in-copy: after
	// 0..3 CopyData; errors: 4 SQLSTATEs at 7 rounds.
	if count[faults.CrashBefore] != 5 || collapsed != 2 || count[faults.CrashAfter] != 7 || count[faults.CrashInCopy] != 4 || count[faults.Error] != 28 {
		t.Errorf("counts %v, collapsed %d", count, collapsed)
	}
	for _, want := range []string{"crash-before at round 3", "crash-before at round 6", "crash-after at commit 2", "crash-after at commit 1", "crash-in-copy 3 at copy 1", "error 57P01 at round 7"} {
		if !seen[want] {
			t.Errorf("no %s", want)
		}
	}
	if seen["crash-before at round 4"] || seen["crash-before at round 5"] {
		t.Error("crash-before points of the read-only start of the transaction are not collapsed")
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
