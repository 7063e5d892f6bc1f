package reference

import (
	"os"
	"testing"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
	rt "github.com/idemcheck/idemcheck/internal/reftest"
)

var target *trial.Target

func TestMain(m *testing.M) { os.Exit(rt.Main(m, &target)) }

type writer = harness.Writer[harness.Order]

// b1 and b2 exercise every writer: two days, several versions of one id in
// one batch (b1 holds id 1 at versions 1 and 2), and a newer version in b2.
var (
	b1 = rt.Batch(1, rt.Order(1, 1, 1, "10.00"), rt.Order(2, 1, 1, "20.50"), rt.Order(1, 2, 1, "11.00"), rt.Order(3, 1, 2, "7"))
	b2 = rt.Batch(2, rt.Order(1, 3, 1, "12.50"), rt.Order(4, 1, 1, "3.25"), rt.Order(2, 1, 1, "20.50"))
)

var correct = map[string]writer{
	"Upsert":                     Upsert{},
	"PartitionOverwrite":         PartitionOverwrite{},
	"PartitionOverwrite/Guarded": PartitionOverwrite{Guarded: true},
	"Dedup":                      Dedup{},
	"Aggregate":                  Aggregate{},
}

// clean delivers each batch once, in order.
func clean(t *testing.T, w writer, batches ...harness.Batch[harness.Order]) *trial.State {
	tr := rt.New(t, target, w)
	for _, b := range batches {
		tr.Deliver(b)
	}
	return tr.State()
}

func assertEqual(t *testing.T, want, got *trial.State) {
	t.Helper()
	if d := rt.Diff(t, want, got); !d.Equal {
		t.Errorf("state differs from the clean run:\n%s", d)
	}
}

func TestDeliveredTwice(t *testing.T) {
	for name, w := range correct {
		t.Run(name, func(t *testing.T) {
			want := clean(t, w, b1, b2)
			assertEqual(t, want, clean(t, w, b1, b1, b2, b2))
		})
	}
}

func TestReorderedDeliveries(t *testing.T) {
	for name, w := range map[string]writer{"Upsert": Upsert{}, "PartitionOverwrite/Guarded": PartitionOverwrite{Guarded: true}, "Dedup": Dedup{}} {
		t.Run(name, func(t *testing.T) {
			want := clean(t, w, b1, b2)
			got := clean(t, w, b2, b1, b2, b1)
			assertEqual(t, want, got)
		})
	}
}

func TestFailedAttemptThenRetry(t *testing.T) {
	for name, w := range correct {
		t.Run(name, func(t *testing.T) {
			want := clean(t, w, b1, b2)
			before := clean(t, w, b1)
			for k := 1; ; k++ {
				tr := rt.New(t, target, w)
				tr.Deliver(b1)
				if !tr.FailAt(b2, k) {
					break // b2 has fewer than k statements: every point was tried
				}
				// Crashed: the state must be as before b2 (one transaction) ...
				if d := rt.Diff(t, before, tr.State()); !d.Equal {
					t.Errorf("cut before statement %d of b2, the state is not the state before b2:\n%s", k, d)
				}
				tr.Deliver(b2) // ... and the retry gives the clean result.
				if d := rt.Diff(t, want, tr.State()); !d.Equal {
					t.Errorf("cut before statement %d of b2, then retried:\n%s", k, d)
				}
			}
		})
	}
}

// TestOverlappingAttempts pauses one attempt mid-transaction, runs a second
// one (a zombie's retry) and resumes the first: the partition lock makes the
// second wait, detectably, and the result is clean.
func TestOverlappingAttempts(t *testing.T) {
	// Each pauses before its COMMIT, holding its locks. (Upsert is a single
	// statement: there is no point between its statements to pause at.)
	for name, tc := range map[string]struct {
		w       writer
		commitK int
	}{"PartitionOverwrite": {PartitionOverwrite{}, 5}, "Aggregate": {Aggregate{}, 5}, "Dedup": {Dedup{}, 3}} {
		t.Run(name, func(t *testing.T) {
			w := tc.w
			want := clean(t, w, b1)
			tr := rt.New(t, target, w)
			first := tr.PauseAt(b1, tc.commitK)
			second := tr.Start(b1)
			if !tr.WaitsForLock(second) {
				t.Error("the second attempt did not wait for the first one's lock")
			}
			if err := first.Resume(); err != nil {
				t.Fatalf("first attempt: %v", err)
			}
			if err := second.Wait(); err != nil {
				t.Fatalf("second attempt: %v", err)
			}
			assertEqual(t, want, tr.State())
		})
	}
}
