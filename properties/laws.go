package properties

import (
	"fmt"

	"github.com/idemcheck/idemcheck/faults"
	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/strategies"
	"pgregory.net/rapid"
)

// conversations are the clean conversations of a scenario's batches, by
// batch index: the map every fault point is drawn from.
type conversations = []strategies.Conversation

// lawSpec is everything the checker knows of one law, in one place, the
// way testing/slogtest keeps its cases in one table.
type lawSpec struct {
	law harness.Law
	// draw is the generator of a random trial's deliveries over batches
	// whose clean conversations are convs; nil: each batch once, in
	// order, without faults (the law compares clean runs).
	draw func(convs conversations) *rapid.Generator[[]harness.Delivery]
	// smoke lists the fixed scenarios run before any random trial: the
	// deliveries that expose the classic bugs at once.
	smoke func(convs conversations) [][]harness.Delivery
	// explore enumerates exhaustive mode's single faults of a delivery of
	// a batch with conversation c (nil: the law has no crash points; its
	// exhaustive mode runs the smoke scenarios), and how many points were
	// collapsed into others that provably leave the same state.
	explore func(c strategies.Conversation) (plans [][]harness.AttemptPlan, collapsed int)
	// doubles: exhaustive mode also tries each single fault followed by
	// another in the retry.
	doubles bool
	// points lists the crash points of c that the law's coverage counts,
	// each with its class (nil: the law injects no wire faults).
	points func(c strategies.Conversation) []strategies.ClassedPoint
	// minDeliveries is the fewest deliveries a violation can have (the
	// floor simplify stops at; 0: one).
	minDeliveries int
	// needs are the injections of which at least one must happen for a
	// passing run to prove anything (empty: none needed).
	needs []Injection
	// violated says what a violation of the law means, before its diff.
	violated string
}

// Injection is something a trial injects, counted per law
// (LawReport.Faults): a wire fault of a kind (Wire), or one of the
// broker's.
type Injection string

// The broker's injections.
const (
	LostAcks Injection = "lost-ack" // an attempt's ack never reached the broker
	Zombies  Injection = "zombie"   // an attempt was overlapped by its own retry
	Replays  Injection = "replay"   // a batch was delivered more than once
	Reorders Injection = "reorder"  // batches were delivered out of order
)

// Wire is the injection of a wire fault of kind k.
func Wire(k faults.Kind) Injection { return Injection(k) }

var crashes = []Injection{Wire(faults.CrashBefore), Wire(faults.CrashAfter), Wire(faults.CrashInCopy), Wire(faults.Error)}

// laws is the table, in the order laws are checked.
var laws = []lawSpec{
	{
		law:      harness.Determinism,
		smoke:    func(conversations) [][]harness.Delivery { return [][]harness.Delivery{nil} },
		violated: "two clean runs of the same batches differ",
	},
	{
		law: harness.ReplayIdempotence,
		draw: func(convs conversations) *rapid.Generator[[]harness.Delivery] {
			return strategies.Replays(len(convs), 3)
		},
		smoke: func(convs conversations) [][]harness.Delivery {
			return [][]harness.Delivery{strategies.Twice(len(convs))}
		},
		minDeliveries: 2, // a batch delivered again
		needs:         []Injection{Replays},
		violated:      "replaying batches changed the result",
	},
	crashLaw(harness.RetryEquivalence, "retrying after crashes gave another result than one clean run"),
	crashLaw(harness.CrashAtomicity, "every crash left a clean state, but after the retries the final state differs from one clean run"),
	{
		law:  harness.ExactlyOnceEffect,
		draw: strategies.LostAcks,
		smoke: func(convs conversations) [][]harness.Delivery {
			return [][]harness.Delivery{
				strategies.EachDelivery(convs, strategies.LostAck),
				strategies.EachDelivery(convs, strategies.Crash(faults.CrashAfter, strategies.LastCommit)),
				strategies.EachDelivery(convs, strategies.Crash(faults.CrashAfter, strategies.FirstCommit)),
			}
		},
		explore: func(c strategies.Conversation) ([][]harness.AttemptPlan, int) {
			plans := [][]harness.AttemptPlan{{{LostAck: true}}}
			commits, collapsed := strategies.Representatives(strategies.CommitPoints(c))
			for _, p := range commits {
				plans = append(plans, []harness.AttemptPlan{{Wire: faults.Plan{p.Fault}}})
			}
			return plans, collapsed
		},
		points:   strategies.CommitPoints,
		needs:    []Injection{LostAcks, Wire(faults.CrashAfter)},
		violated: "a batch whose ack was lost took effect more or less than once",
	},
	{
		law:  harness.OrderIndependence,
		draw: func(convs conversations) *rapid.Generator[[]harness.Delivery] { return strategies.Shuffled(len(convs)) },
		smoke: func(convs conversations) [][]harness.Delivery {
			n := len(convs)
			return [][]harness.Delivery{strategies.Reversed(n), append(strategies.Reversed(n), strategies.Reversed(n)...)}
		},
		minDeliveries: 2, // two deliveries out of order
		needs:         []Injection{Reorders},
		violated:      "delivering the batches in another order (with duplicates) changed the result",
	},
	{
		law:      harness.IncrementalEquivalence,
		smoke:    func(conversations) [][]harness.Delivery { return [][]harness.Delivery{nil} },
		violated: "all records applied as one batch (a full refresh) differ from the batches applied one by one",
	},
	{
		law:  harness.ZombieSafety,
		draw: strategies.Zombies,
		smoke: func(convs conversations) [][]harness.Delivery {
			return [][]harness.Delivery{
				strategies.EachDelivery(convs, strategies.Stall(strategies.LastCommit, false)),
				strategies.EachDelivery(convs, strategies.Stall(strategies.FirstCommit, false)),
				strategies.EachDelivery(convs, strategies.Stall(strategies.LastCommit, true)),
			}
		},
		explore: func(c strategies.Conversation) ([][]harness.AttemptPlan, int) {
			var plans [][]harness.AttemptPlan
			stalls, collapsed := strategies.Representatives(strategies.StallPoints(c))
			for _, p := range stalls {
				for _, kill := range []bool{false, true} {
					plans = append(plans, []harness.AttemptPlan{{Zombie: &harness.Zombie{At: p.Fault.At, Kill: kill}}})
				}
			}
			return plans, 2 * collapsed
		},
		points:   strategies.StallPoints,
		needs:    []Injection{Zombies},
		violated: "a retry overlapping a stalled earlier attempt changed the result",
	},
}

// SmokeTrials is how many smoke scenarios law runs before its random
// trials (they count as trials), for progress displays.
func SmokeTrials(law harness.Law) int { return len(specOf(law).smoke(nil)) }

// specOf returns the table's entry of law.
func specOf(law harness.Law) lawSpec {
	for _, s := range laws {
		if s.law == law {
			return s
		}
	}
	panic(fmt.Sprintf("properties: no law %q", law))
}

// crashLaw is the entry of a law judged by crashing deliveries and
// retrying them (RetryEquivalence, CrashAtomicity: they differ in what
// they judge, not in what they inject).
func crashLaw(law harness.Law, violated string) lawSpec {
	return lawSpec{law: law, draw: drawCrashes, smoke: smokeCrashes, explore: exploreCrashes, doubles: true,
		points: strategies.CrashPoints, needs: crashes, violated: violated}
}

// drawCrashes delivers in order; every delivery fails 1 or 2 times at
// points drawn from its batch's conversation, then runs clean.
func drawCrashes(convs conversations) *rapid.Generator[[]harness.Delivery] {
	return strategies.InOrder(len(convs), func(i int) *rapid.Generator[[]harness.AttemptPlan] {
		return strategies.Attempts(convs[i], 2)
	})
}

// smokeCrashes crashes every delivery at once after its last commit,
// before it, between its last two commits, and after its first.
func smokeCrashes(convs conversations) [][]harness.Delivery {
	return [][]harness.Delivery{
		strategies.EachDelivery(convs, strategies.Crash(faults.CrashAfter, strategies.LastCommit)),
		strategies.EachDelivery(convs, strategies.Crash(faults.CrashAfter, strategies.SecondToLastCommit)),
		strategies.EachDelivery(convs, strategies.Crash(faults.CrashBefore, strategies.LastCommit)),
		strategies.EachDelivery(convs, strategies.Crash(faults.CrashAfter, strategies.FirstCommit)),
	}
}

// exploreCrashes is every single crash of strategies.Crashes, each as a
// failing first attempt.
func exploreCrashes(c strategies.Conversation) ([][]harness.AttemptPlan, int) {
	fs, collapsed := strategies.Crashes(c)
	plans := make([][]harness.AttemptPlan, len(fs))
	for i, f := range fs {
		plans[i] = []harness.AttemptPlan{{Wire: faults.Plan{f}}}
	}
	return plans, collapsed
}
