package properties

import (
	"context"

	"github.com/idemcheck/idemcheck/faults"
	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/acks"
	"github.com/idemcheck/idemcheck/harness/consumer"
	"github.com/idemcheck/idemcheck/harness/kafka"
	"github.com/idemcheck/idemcheck/strategies"
	"github.com/twmb/franz-go/pkg/kerr"
)

// explore lists every scenario of law's bounded family b, for exhaustive
// mode: on batch lists 0..b.BatchSets of the batch generator (the same
// family on every run), for Determinism one clean run each; for
// ReplayIdempotence each batch produced twice, and the group rewound; for
// OrderIndependence every interleaving of the partitions' batches (up to
// maxInterleavings a list, the first in the order interleavingsOf makes
// them); for RetryEquivalence a kill at one point of every class of the
// clean process's crash points (strategies.Representatives), each
// offset-commit fault at each of its commits, each poll failed with each
// of fetchErrors, and then b.DoubleFaults pairs of kills (a second
// process killed too); for ZombieSafety every stall point.
func (c *consumerChecker) explore(ctx context.Context, law harness.Law, b Bounds) ([]consumer.Scenario, error) {
	gen := strategies.Batches(strategies.Orders(), c.set.limits)
	var out []consumer.Scenario
	for i := 0; i <= b.BatchSets; i++ {
		bs, err := example(gen, uint64(i))
		if err != nil {
			return nil, err
		}
		clean, err := c.clean(ctx, bs)
		if err != nil {
			return nil, err
		}
		p := clean.Processes[0]
		switch law {
		case harness.Determinism:
			out = append(out, consumer.Scenario{Batches: bs})
		case harness.ReplayIdempotence:
			for j := range bs {
				out = append(out, consumer.Scenario{Batches: bs, Twice: []int{j}})
			}
			out = append(out, consumer.Scenario{Batches: bs, Rewind: true})
		case harness.OrderIndependence:
			for _, il := range interleavingsOf(len(bs), 2, maxInterleavings) {
				out = append(out, consumer.Scenario{Batches: bs, Interleaving: il})
			}
		case harness.RetryEquivalence:
			out = append(out, retryFamily(bs, p, b.DoubleFaults, c.queue())...)
		case harness.ZombieSafety:
			for _, at := range zombiePoints(p.Events) {
				out = append(out, consumer.Scenario{Batches: bs, Zombie: &consumer.Zombie{At: at}})
			}
		}
	}
	return out, nil
}

// retryFamily is RetryEquivalence's exhaustive family on batches bs,
// whose clean process is p.
func retryFamily(bs []harness.Batch[harness.Order], p consumer.Process, doubles int, jetstream bool) []consumer.Scenario {
	reps, _ := strategies.Representatives(strategies.CrashPoints(strategies.Conversation(p.Events)))
	var single []consumer.Fault
	for _, r := range reps {
		single = append(single, consumer.Fault{PG: faults.Plan{r.Fault}})
	}
	for n := 1; n <= p.Commits && jetstream; n++ {
		for _, kind := range ackFaults {
			single = append(single, consumer.Fault{Ack: &acks.Fault{Kind: kind, Ack: n}})
		}
	}
	for n := 1; n <= p.Commits && !jetstream; n++ {
		for _, f := range []kafka.CommitFault{{Kind: kafka.KillBeforeCommit, Commit: n}, {Kind: kafka.KillAfterCommit, Commit: n},
			{Kind: kafka.FailCommit, Commit: n, Code: kerr.RebalanceInProgress.Code}} {
			single = append(single, consumer.Fault{Commit: &f})
		}
	}
	for n := 1; n <= p.Polls && !jetstream; n++ {
		for _, code := range fetchErrors {
			single = append(single, consumer.Fault{Fetch: &kafka.FetchFault{Poll: n, Code: code}})
		}
	}
	var out []consumer.Scenario
	for _, f := range single {
		out = append(out, consumer.Scenario{Batches: bs, Faults: []consumer.Fault{f}})
	}
	for k := 0; k < doubles && len(single) > 0; k++ {
		first, second := single[k%len(single)], single[(k/len(single)+k+1)%len(single)]
		out = append(out, consumer.Scenario{Batches: bs, Faults: []consumer.Fault{first, second}})
	}
	return out
}

// maxInterleavings bounds OrderIndependence's exhaustive family per
// batch list: two partitions of n batches interleave C(2n, n) ways (20
// for 3 batches, 70 for 4).
const maxInterleavings = 20

// interleavingsOf lists up to limit interleavings of batches batches on
// partitions partitions, in lexicographic order.
func interleavingsOf(batches, partitions, limit int) [][]int {
	var out [][]int
	left := make([]int, partitions)
	for p := range left {
		left[p] = batches
	}
	var walk func(prefix []int)
	walk = func(prefix []int) {
		if len(out) >= limit {
			return
		}
		if len(prefix) == batches*partitions {
			out = append(out, append([]int(nil), prefix...))
			return
		}
		for p := range left {
			if left[p] > 0 {
				left[p]--
				walk(append(prefix, p))
				left[p]++
			}
		}
	}
	if batches > 0 {
		walk(nil)
	}
	return out
}
