package strategies

import (
	"fmt"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"pgregory.net/rapid"
)

// Limits bound what the generators draw.
type Limits struct {
	MaxBatches int // batches per scenario (default 4)
	MaxRecords int // records per batch (default 8)
}

func (l Limits) withDefaults() Limits {
	if l.MaxBatches <= 0 {
		l.MaxBatches = 4
	}
	if l.MaxRecords <= 0 {
		l.MaxRecords = 8
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

// Batches draws 1..MaxBatches batches of 1..MaxRecords records each (one
// in ten is empty, and shrinking moves away from empty ones: an empty
// batch exercises little), with ids b1, b2, ... and logical times one
// minute apart.
func Batches[R any](records *rapid.Generator[R], lim Limits) *rapid.Generator[[]harness.Batch[R]] {
	lim = lim.withDefaults()
	return rapid.Custom(func(t *rapid.T) []harness.Batch[R] {
		lists := make([][]R, rapid.IntRange(1, lim.MaxBatches).Draw(t, "batches"))
		for i := range lists {
			if empty := rapid.IntRange(0, 9).Draw(t, fmt.Sprintf("b%d-empty", i+1)) == 9; !empty {
				lists[i] = rapid.SliceOfN(records, 1, lim.MaxRecords).Draw(t, fmt.Sprintf("b%d", i+1))
			}
		}
		return Sequenced(lists)
	})
}

// Sequenced makes one batch of each list of records, in order: ids b1,
// b2, ... and logical times one minute apart from Epoch.
func Sequenced[R any](lists [][]R) []harness.Batch[R] {
	out := make([]harness.Batch[R], len(lists))
	for i, recs := range lists {
		out[i] = harness.Batch[R]{ID: fmt.Sprintf("b%d", i+1), Records: recs, LogicalTime: Epoch.Add(time.Duration(i) * time.Minute)}
	}
	return out
}

// PartitionBatches draws batches that are each one whole partition, for
// writers certified with a partition field: records are drawn in waves,
// regrouped by Partitioned.
func PartitionBatches[R any](records *rapid.Generator[R], partition func(R) string, lim Limits) *rapid.Generator[[]harness.Batch[R]] {
	lim = lim.withDefaults()
	return rapid.Custom(func(t *rapid.T) []harness.Batch[R] {
		waves := make([][]R, rapid.IntRange(1, 2).Draw(t, "waves"))
		for w := range waves {
			waves[w] = rapid.SliceOfN(records, 1, lim.MaxRecords).Draw(t, fmt.Sprintf("wave%d", w+1))
		}
		return Partitioned(waves, partition, lim)
	})
}

// Partitioned makes whole-partition batches of records that arrive in
// waves: each wave gives one batch per partition it touches, holding every
// record of that partition so far. So a partition delivered again carries
// what it had plus newer versions, as a re-run of the partition's source
// would. At most MaxBatches batches.
func Partitioned[R any](waves [][]R, partition func(R) string, lim Limits) []harness.Batch[R] {
	lim = lim.withDefaults()
	seen := map[string][]R{}
	var out []harness.Batch[R]
	for _, recs := range waves {
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
				return out
			}
			i := len(out)
			out = append(out, harness.Batch[R]{ID: fmt.Sprintf("b%d", i+1), Partition: p,
				Records: append([]R(nil), seen[p]...), LogicalTime: Epoch.Add(time.Duration(i) * time.Minute)})
		}
	}
	return out
}
