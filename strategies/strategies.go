package strategies

import (
	"fmt"
	"time"

	"github.com/idemcheck/idemcheck/faults"
	"github.com/idemcheck/idemcheck/harness"
	"pgregory.net/rapid"
)

// Limits bound what the generators draw.
type Limits struct {
	MaxBatches int // batches per scenario (default 4)
	MaxRecords int // records per batch (default 8)
	MaxRound   int // the highest round a fault point names (default 8)
	MaxCopy    int // the highest CopyData count a crash-in-copy lets through (default 3)
}

func (l Limits) withDefaults() Limits {
	if l.MaxBatches <= 0 {
		l.MaxBatches = 4
	}
	if l.MaxRecords <= 0 {
		l.MaxRecords = 8
	}
	if l.MaxRound <= 0 {
		l.MaxRound = 8
	}
	if l.MaxCopy <= 0 {
		l.MaxCopy = 3
	}
	return l
}

// Epoch is the logical time of the first batch; batch i is i minutes later.
var Epoch = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// Stress values the order content is built from: numeric scales, unicode.
var (
	amounts   = []string{"12.50", "0", "3", "0.001", "99999999.99", "12.5", "-7.25", "100.000"}
	customers = []string{"c-1", "c-ü", "顧客-2", "c 3", "c-'4'", "c-5", "", "c-\"7\""}
	sources   = []string{"shop", "app"}
)

// OrderOf is the one content of an order version: source, event date,
// customer and amount are functions of (id, version), and the event date of
// the id alone (an order does not change partition).
func OrderOf(id, version int64) harness.Order {
	return harness.Order{
		Source:    sources[id%int64(len(sources))],
		ID:        id,
		Version:   version,
		EventDate: harness.NewDate(2026, 11, 1+int(id%3)),
		Customer:  customers[(id+version)%int64(len(customers))],
		Amount:    amounts[(id*3+version)%int64(len(amounts))],
	}
}

// Orders draws orders with ids 1..6 and versions 1..3, so batches collide
// on keys and carry several versions of one id.
func Orders() *rapid.Generator[harness.Order] {
	return rapid.Custom(func(t *rapid.T) harness.Order {
		id := rapid.Int64Range(1, 6).Draw(t, "id")
		v := rapid.Int64Range(1, 3).Draw(t, "version")
		return OrderOf(id, v)
	})
}

// Batches draws 1..MaxBatches batches of 0..MaxRecords records each, with
// ids b1, b2, ... and logical times one minute apart.
func Batches[R any](records *rapid.Generator[R], lim Limits) *rapid.Generator[[]harness.Batch[R]] {
	lim = lim.withDefaults()
	return rapid.Custom(func(t *rapid.T) []harness.Batch[R] {
		n := rapid.IntRange(1, lim.MaxBatches).Draw(t, "batches")
		out := make([]harness.Batch[R], n)
		for i := range out {
			recs := rapid.SliceOfN(records, 0, lim.MaxRecords).Draw(t, fmt.Sprintf("b%d", i+1))
			out[i] = harness.Batch[R]{ID: fmt.Sprintf("b%d", i+1), Records: recs, LogicalTime: Epoch.Add(time.Duration(i) * time.Minute)}
		}
		return out
	})
}

// PartitionBatches draws batches that are each one whole partition, for
// writers certified with a partition field: records are drawn in waves;
// each wave gives one batch per partition it touches, holding every record
// of that partition drawn so far. So a partition delivered again carries
// what it had plus newer versions, as a re-run of the partition's source
// would.
func PartitionBatches[R any](records *rapid.Generator[R], partition func(R) string, lim Limits) *rapid.Generator[[]harness.Batch[R]] {
	lim = lim.withDefaults()
	return rapid.Custom(func(t *rapid.T) []harness.Batch[R] {
		waves := rapid.IntRange(1, 2).Draw(t, "waves")
		seen := map[string][]R{}
		var out []harness.Batch[R]
		for w := 0; w < waves && len(out) < lim.MaxBatches; w++ {
			recs := rapid.SliceOfN(records, 1, lim.MaxRecords).Draw(t, fmt.Sprintf("wave%d", w+1))
			var order []string
			touched := map[string]bool{}
			for _, r := range recs {
				p := partition(r)
				if !touched[p] {
					touched[p] = true
					order = append(order, p)
				}
				seen[p] = append(seen[p], r)
			}
			for _, p := range order {
				if len(out) == lim.MaxBatches {
					break
				}
				i := len(out)
				out = append(out, harness.Batch[R]{ID: fmt.Sprintf("b%d", i+1), Partition: p,
					Records: append([]R(nil), seen[p]...), LogicalTime: Epoch.Add(time.Duration(i) * time.Minute)})
			}
		}
		return out
	})
}

// crashKinds are the fault kinds that end an attempt, simplest first.
var crashKinds = []faults.Kind{faults.CrashBefore, faults.CrashAfter, faults.CrashInCopy, faults.Error}

// Point draws a fault point: a round number (3 times in 10), one of the
// first three committing rounds (6 in 10: commits are where idempotence
// breaks) or the first COPY (1 in 10); it shrinks toward round 1.
func Point(lim Limits) *rapid.Generator[faults.Point] {
	lim = lim.withDefaults()
	return rapid.Custom(func(t *rapid.T) faults.Point {
		switch k := rapid.IntRange(0, 9).Draw(t, "point"); {
		case k >= 3 && k <= 8:
			return faults.AtCommit(rapid.IntRange(1, 3).Draw(t, "commit"))
		case k == 9:
			return faults.AtCopy(1)
		}
		return faults.AtRound(rapid.IntRange(1, lim.MaxRound).Draw(t, "round"))
	})
}

// Crash draws one fault that ends an attempt: a crash before or after a
// round, inside a COPY, or a synthetic error.
func Crash(lim Limits) *rapid.Generator[faults.Fault] {
	lim = lim.withDefaults()
	return rapid.Custom(func(t *rapid.T) faults.Fault {
		f := faults.Fault{Kind: rapid.SampledFrom(crashKinds).Draw(t, "fault"), At: Point(lim).Draw(t, "at")}
		switch f.Kind {
		case faults.CrashInCopy:
			f.CopyData = rapid.IntRange(0, lim.MaxCopy).Draw(t, "copydata")
			f.At = faults.AtCopy(1)
		case faults.Error:
			f.SQLState = rapid.SampledFrom([]string{"40001", "40P01", "57P01", "08006"}).Draw(t, "sqlstate")
		}
		return f
	})
}

// Attempts draws the plans of one delivery's failing attempts: 1..max
// attempts, each crashing by Crash (if its point is reached); the attempt
// after them runs clean.
func Attempts(lim Limits, max int) *rapid.Generator[[]harness.AttemptPlan] {
	return rapid.Custom(func(t *rapid.T) []harness.AttemptPlan {
		n := rapid.IntRange(1, max).Draw(t, "failing-attempts")
		out := make([]harness.AttemptPlan, n)
		for i := range out {
			out[i] = harness.AttemptPlan{Wire: faults.Plan{Crash(lim).Draw(t, fmt.Sprintf("attempt%d", i+1))}}
		}
		return out
	})
}

// InOrder delivers each batch once in canonical order, with attempt plans
// drawn by plans.
func InOrder(n int, plans *rapid.Generator[[]harness.AttemptPlan]) *rapid.Generator[[]harness.Delivery] {
	return rapid.Custom(func(t *rapid.T) []harness.Delivery {
		out := make([]harness.Delivery, n)
		for i := range out {
			out[i] = harness.Delivery{Batch: i}
			if plans != nil {
				out[i].Attempts = plans.Draw(t, fmt.Sprintf("d%d", i+1))
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
		for _, i := range rapid.SliceOfN(rapid.IntRange(0, n-1), 0, n).Draw(t, "duplicates") {
			idx = append(idx, i)
		}
		perm := rapid.Permutation(idx).Draw(t, "order")
		out := make([]harness.Delivery, len(perm))
		for i, b := range perm {
			out[i] = harness.Delivery{Batch: b}
		}
		return out
	})
}

// LostAcks delivers in canonical order; any attempt may succeed with its
// ack lost, or crash after its COMMIT ran (the ambiguous commit).
func LostAcks(n int) *rapid.Generator[[]harness.Delivery] {
	return rapid.Custom(func(t *rapid.T) []harness.Delivery {
		out := make([]harness.Delivery, n)
		for i := range out {
			out[i] = harness.Delivery{Batch: i}
			k := rapid.IntRange(0, 2).Draw(t, fmt.Sprintf("d%d-lost", i+1))
			for j := 0; j < k; j++ {
				if rapid.Bool().Draw(t, fmt.Sprintf("d%d-a%d-ambiguous", i+1, j+1)) {
					out[i].Attempts = append(out[i].Attempts, harness.AttemptPlan{Wire: faults.Plan{{Kind: faults.CrashAfter, At: faults.AtCommit(1)}}})
				} else {
					out[i].Attempts = append(out[i].Attempts, harness.AttemptPlan{LostAck: true})
				}
			}
		}
		return out
	})
}

// Zombies delivers in canonical order; some deliveries' first attempt
// stalls at a drawn point while its retry runs, then resumes or is killed.
func Zombies(n int, lim Limits) *rapid.Generator[[]harness.Delivery] {
	lim = lim.withDefaults()
	return rapid.Custom(func(t *rapid.T) []harness.Delivery {
		out := make([]harness.Delivery, n)
		any := false
		for i := range out {
			out[i] = harness.Delivery{Batch: i}
			if rapid.Bool().Draw(t, fmt.Sprintf("d%d-zombie", i+1)) || (i == n-1 && !any) {
				any = true
				z := &harness.Zombie{At: Point(lim).Draw(t, fmt.Sprintf("d%d-stall", i+1)), Kill: rapid.Bool().Draw(t, fmt.Sprintf("d%d-kill", i+1))}
				out[i].Attempts = []harness.AttemptPlan{{Zombie: z}}
			}
		}
		return out
	})
}
