package properties

import (
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
