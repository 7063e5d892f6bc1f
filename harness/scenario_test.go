package harness_test

import (
	"testing"

	"github.com/idemcheck/idemcheck/faults"
	"github.com/idemcheck/idemcheck/harness"
)

func TestScenarioClean(t *testing.T) {
	batches := []harness.Batch[harness.Order]{{ID: "b1"}, {ID: "b2"}}
	crash := faults.Plan{{Kind: faults.CrashAfter, At: faults.AtCommit(1)}}
	for _, tc := range []struct {
		name       string
		deliveries []harness.Delivery
		clean      bool
	}{
		{"each batch once, in order", []harness.Delivery{{Batch: 0}, {Batch: 1}}, true},
		{"with faultless attempt plans", []harness.Delivery{{Batch: 0, Attempts: []harness.AttemptPlan{{}}}, {Batch: 1, Attempts: []harness.AttemptPlan{{Wire: faults.Plan{}}, {}}}}, true},
		{"reordered", []harness.Delivery{{Batch: 1}, {Batch: 0}}, false},
		{"replayed", []harness.Delivery{{Batch: 0}, {Batch: 1}, {Batch: 1}}, false},
		{"a batch missing", []harness.Delivery{{Batch: 0}}, false},
		{"a batch twice, another missing", []harness.Delivery{{Batch: 0}, {Batch: 0}}, false},
		{"a crash", []harness.Delivery{{Batch: 0}, {Batch: 1, Attempts: []harness.AttemptPlan{{Wire: crash}}}}, false},
		{"a crash in a later attempt", []harness.Delivery{{Batch: 0, Attempts: []harness.AttemptPlan{{}, {Wire: crash}}}, {Batch: 1}}, false},
		{"a lost ack", []harness.Delivery{{Batch: 0, Attempts: []harness.AttemptPlan{{LostAck: true}}}, {Batch: 1}}, false},
		{"a zombie", []harness.Delivery{{Batch: 0}, {Batch: 1, Attempts: []harness.AttemptPlan{{Zombie: &harness.Zombie{At: faults.AtCommit(1)}}}}}, false},
	} {
		sc := harness.Scenario[harness.Order]{Batches: batches, Deliveries: tc.deliveries}
		if got := sc.Clean(); got != tc.clean {
			t.Errorf("%s: Clean() = %v, want %v for\n%s", tc.name, got, tc.clean, sc)
		}
	}
	if !harness.CleanScenario(batches).Clean() {
		t.Error("CleanScenario is not Clean")
	}
}
