package properties

import (
	"slices"
	"testing"

	"github.com/idemcheck/idemcheck/harness"
)

func TestPruneRenumbersTheBatches(t *testing.T) {
	sc := harness.Scenario[int]{
		Batches:    []harness.Batch[int]{{ID: "b1"}, {ID: "b2"}, {ID: "b3"}},
		Deliveries: []harness.Delivery{{Batch: 2}, {Batch: 0}, {Batch: 2}},
	}
	got := prune(sc)
	if len(got.Batches) != 2 || got.Batches[0].ID != "b1" || got.Batches[1].ID != "b3" {
		t.Fatalf("batches %v, want b1 and b3", got.Batches)
	}
	if got.Deliveries[0].Batch != 1 || got.Deliveries[1].Batch != 0 || got.Deliveries[2].Batch != 1 {
		t.Errorf("deliveries %v, want batches 1, 0, 1", got.Deliveries)
	}
}

// TestSmallerKeepsHalvesFirstAndNeverOffersTheCleanRun: the candidates of
// one step, in order, for a replay of a batch and for a lost ack of it.
func TestSmallerKeepsHalvesFirstAndNeverOffersTheCleanRun(t *testing.T) {
	c := &checker[int]{}
	three := []harness.Batch[int]{{ID: "b1", Records: []int{1, 2, 3}}}
	records := func(cands []harness.Scenario[int]) [][]int {
		var out [][]int
		for _, sc := range cands {
			out = append(out, sc.Batches[0].Records)
		}
		return out
	}

	// A replay (two deliveries, the law's floor) shrinks only its records:
	// a half first (the other half of three is a removal), then each
	// record left out.
	replay := harness.Scenario[int]{Batches: three, Deliveries: []harness.Delivery{{Batch: 0}, {Batch: 0}}}
	got := records(c.smaller(specOf(harness.ReplayIdempotence), replay))
	want := [][]int{{1}, {2, 3}, {1, 3}, {1, 2}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("replay's candidates keep records %v, want %v", got, want)
	}
	four := harness.Scenario[int]{Batches: []harness.Batch[int]{{ID: "b1", Records: []int{1, 2, 3, 4}}}, Deliveries: replay.Deliveries}
	got = records(c.smaller(specOf(harness.ReplayIdempotence), four))
	if want := [][]int{{1, 2}, {3, 4}, {2, 3, 4}, {1, 3, 4}, {1, 2, 4}, {1, 2, 3}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("four records' candidates keep %v, want %v", got, want)
	}

	// A lost ack's fault-free version is the clean run: not offered to
	// ExactlyOnceEffect; every record candidate keeps the lost ack.
	lost := harness.Scenario[int]{Batches: three, Deliveries: []harness.Delivery{{Batch: 0, Attempts: []harness.AttemptPlan{{LostAck: true}}}}}
	cands := c.smaller(specOf(harness.ExactlyOnceEffect), lost)
	if got := records(cands); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("lost ack's candidates keep records %v, want %v", got, want)
	}
	for _, sc := range cands {
		if sc.Clean() {
			t.Errorf("ExactlyOnceEffect was offered the clean run %v", sc)
		}
	}

	// A two-record batch: its halves are its removals, offered once.
	two := harness.Scenario[int]{Batches: []harness.Batch[int]{{ID: "b1", Records: []int{1, 2}}}, Deliveries: replay.Deliveries}
	if got, want := records(c.smaller(specOf(harness.ReplayIdempotence), two)), [][]int{{2}, {1}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("two records' candidates keep %v, want %v", got, want)
	}

	// IncrementalEquivalence's scenarios are clean runs: they still shrink.
	if got := records(c.smaller(specOf(harness.IncrementalEquivalence), harness.CleanScenario(three))); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("IncrementalEquivalence's candidates keep records %v, want %v", got, want)
	}
}
