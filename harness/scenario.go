package harness

import (
	"fmt"
	"strings"

	"github.com/idemcheck/idemcheck/faults"
)

// Scenario is everything one trial does, as plain data that a generator
// draws and shrinks and that a file can hold: the batches in canonical
// order, and the deliveries in the order the broker makes them, each with
// the plans of its attempts.
type Scenario[R any] struct {
	Batches    []Batch[R]
	Deliveries []Delivery
}

// Delivery is one delivery of a batch: the broker hands Batches[Batch] to
// the writer and retries until an attempt is acked (or the attempt bound is
// hit).
type Delivery struct {
	Batch int
	// Attempts plans the attempts in order; attempts past the list run
	// without faults.
	Attempts []AttemptPlan
}

// AttemptPlan is what happens to one attempt.
type AttemptPlan struct {
	Wire faults.Plan // faults on the attempt's conversation with the server
	// LostAck: the writer succeeded, but its ack never reached the broker,
	// which delivers the batch again.
	LostAck bool
	// Zombie: the attempt stalls at Zombie.At (the broker's lease expires),
	// the broker starts the next attempt while it is still alive, and the
	// stalled one then resumes or is killed.
	Zombie *Zombie
}

// Zombie describes an attempt overlapped by its own retry.
type Zombie struct {
	At faults.Point
	// Kill ends the stalled attempt instead of letting it resume.
	Kill bool
}

// String is one line, e.g. "pause at commit 1, then resume".
func (z Zombie) String() string {
	end := "resume"
	if z.Kill {
		end = "kill"
	}
	return fmt.Sprintf("stall at %s while the retry runs, then %s", z.At, end)
}

// Faultless reports whether the attempt runs as if it had no plan.
func (p AttemptPlan) Faultless() bool { return len(p.Wire) == 0 && !p.LostAck && p.Zombie == nil }

// String describes the attempt plan in one line.
func (p AttemptPlan) String() string {
	var parts []string
	if len(p.Wire) > 0 {
		parts = append(parts, p.Wire.String())
	}
	if p.LostAck {
		parts = append(parts, "ack lost")
	}
	if p.Zombie != nil {
		parts = append(parts, "zombie: "+p.Zombie.String())
	}
	if len(parts) == 0 {
		return "no fault"
	}
	return strings.Join(parts, "; ")
}

// CleanScenario delivers each batch once, in canonical order, without
// faults: the oracle every other run is compared with.
func CleanScenario[R any](batches []Batch[R]) Scenario[R] {
	sc := Scenario[R]{Batches: batches}
	for i := range batches {
		sc.Deliveries = append(sc.Deliveries, Delivery{Batch: i})
	}
	return sc
}

// Clean reports whether sc is its batches' CleanScenario: each batch
// delivered once, in order, every attempt faultless.
func (sc Scenario[R]) Clean() bool {
	if len(sc.Deliveries) != len(sc.Batches) {
		return false
	}
	for i, d := range sc.Deliveries {
		if d.Batch != i {
			return false
		}
		for _, a := range d.Attempts {
			if !a.Faultless() {
				return false
			}
		}
	}
	return true
}

// String renders the scenario for a report: the batches with their
// records, then each delivery with its attempt plans.
func (sc Scenario[R]) String() string {
	var b strings.Builder
	for _, bt := range sc.Batches {
		fmt.Fprintf(&b, "batch %s", bt.ID)
		if bt.Partition != "" {
			fmt.Fprintf(&b, " (partition %s)", bt.Partition)
		}
		fmt.Fprintf(&b, ", %d record(s):\n", len(bt.Records))
		for _, r := range bt.Records {
			fmt.Fprintf(&b, "  %+v\n", r)
		}
	}
	for i, d := range sc.Deliveries {
		id := fmt.Sprint(d.Batch)
		if d.Batch >= 0 && d.Batch < len(sc.Batches) {
			id = sc.Batches[d.Batch].ID
		}
		fmt.Fprintf(&b, "delivery %d: batch %s", i+1, id)
		for j, a := range d.Attempts {
			fmt.Fprintf(&b, "; attempt %d: %s", j+1, a)
		}
		b.WriteByte('\n')
	}
	return strings.TrimRight(b.String(), "\n")
}
