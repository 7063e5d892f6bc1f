package consumer

import (
	"fmt"
	"strings"

	"github.com/idemcheck/idemcheck/faults"
	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/acks"
	"github.com/idemcheck/idemcheck/harness/kafka"
)

// Scenario is one consumer trial, as plain data: the batches produced to
// a fresh topic, and the consumer processes run over it, each meeting at
// most one kill.
type Scenario struct {
	Batches []harness.Batch[harness.Order]
	// Partitions of the trial's topic (at least 2; default 2). A
	// record's key is its order's source and id, so an order's versions
	// share a partition and arrive in order.
	Partitions int
	// Twice lists batches whose records are produced a second time,
	// right after the first, as a producer's retry after a lost ack does.
	Twice []int
	// MsgIDs, on JetStream, publishes each message with a Nats-Msg-Id
	// (its order's source, id and version), by which the server drops a
	// second publish of it within its duplicate window.
	MsgIDs bool
	// Quorum, on RabbitMQ, makes the trial's queue a quorum queue
	// (replicated, Raft) instead of a classic one.
	Quorum bool
	// Zombie, when set, is played first (two processes); the processes
	// of Faults follow.
	Zombie *Zombie
	// Faults: consumer process i meets Faults[i]; after the last, one
	// more process runs without faults until it catches up.
	Faults []Fault
	// Rewind, after the consumer caught up: it is stopped, its group's
	// offsets are set back to the start, as an operator's reset does, and
	// one more process runs over everything again.
	Rewind bool
	// Interleaving, when set, is the order in which the records reach
	// the consumer across partitions, a partition number a step: the
	// k-th time partition p appears, p's records of batch k (both copies
	// of a batch produced twice) are released, and the step after opens
	// once the consumer has fetched them. Each partition appears once a
	// batch. Empty: as the broker serves them.
	Interleaving []int
}

// Fault is what one consumer process meets: a PostgreSQL plan (PG, of
// one fault: a crash, which kills the process with SIGKILL right there,
// or an error such as 40001 that it must handle), a fault at one of its
// OffsetCommit requests (Commit), or an error code answering one of its
// polls (Fetch). A process that catches up before its point is stopped
// as usual.
type Fault struct {
	PG     faults.Plan
	Commit *kafka.CommitFault
	Fetch  *kafka.FetchFault
	Ack    *acks.Fault // JetStream: a fault at one of its acks
}

// IsZero tells whether k is no fault.
func (k Fault) IsZero() bool {
	return len(k.PG) == 0 && k.Commit == nil && k.Fetch == nil && k.Ack == nil
}

func (k Fault) String() string {
	switch {
	case k.Ack != nil:
		return k.Ack.String()
	case k.Commit != nil:
		return k.Commit.String()
	case k.Fetch != nil:
		return k.Fetch.String()
	case len(k.PG) > 0 && k.PG[0].Kind == faults.Pause:
		return "frozen as a zombie at " + k.PG[0].At.String()
	case len(k.PG) > 0 && k.PG[0].IsCrash():
		return "kill at " + k.PG.String()
	case len(k.PG) > 0:
		return k.PG.String()
	}
	return "no fault"
}

// Clean tells whether the scenario has no faults: one consumer, each
// record produced once.
func (sc Scenario) Clean() bool {
	return len(sc.Twice) == 0 && len(sc.Faults) == 0 && !sc.Rewind && sc.Zombie == nil && len(sc.Interleaving) == 0
}

// validInterleaving tells why sc's Interleaving cannot be played, or nil.
func (sc Scenario) validInterleaving() error {
	if len(sc.Interleaving) == 0 {
		return nil
	}
	seen := make([]int, sc.partitions())
	for _, p := range sc.Interleaving {
		if p < 0 || p >= len(seen) {
			return fmt.Errorf("consumer: interleaving %v names partition %d of a topic of %d", sc.Interleaving, p, len(seen))
		}
		seen[p]++
	}
	for p, n := range seen {
		if n != len(sc.Batches) {
			return fmt.Errorf("consumer: interleaving %v names partition %d %d times, want once a batch (%d)", sc.Interleaving, p, n, len(sc.Batches))
		}
	}
	return nil
}

func (sc Scenario) partitions() int {
	if sc.Partitions < 2 {
		return 2
	}
	return sc.Partitions
}

func (sc Scenario) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d batches", len(sc.Batches))
	if sc.Partitions > 0 || len(sc.Interleaving) > 0 {
		fmt.Fprintf(&b, " on %d partitions", sc.partitions())
	}
	for _, i := range sc.Twice {
		fmt.Fprintf(&b, "; batch %d produced twice", i+1)
	}
	if sc.MsgIDs {
		b.WriteString(" (with message IDs)")
	}
	if sc.Quorum {
		b.WriteString("; a quorum queue")
	}
	if sc.Zombie != nil {
		fmt.Fprintf(&b, "; %v", sc.Zombie)
	}
	for i, k := range sc.Faults {
		fmt.Fprintf(&b, "; consumer %d: %v", i+1, k)
	}
	if sc.Rewind {
		b.WriteString("; group offsets rewound to the start")
	}
	if len(sc.Interleaving) > 0 {
		b.WriteString("; records reach the consumer in the order")
		seen := map[int]int{}
		for _, p := range sc.Interleaving {
			seen[p]++
			fmt.Fprintf(&b, " p%d/b%d", p, seen[p])
		}
		b.WriteString(" (partition/batch)")
	}
	return b.String()
}
