package kafka

import (
	"fmt"
	"sync"
	"time"
)

// Release is one step of a Gate: partition Partition's records below
// offset Below reach consumers from this step on.
type Release struct {
	Partition int32
	Below     int64
}

// Gate decides the order in which a topic's records reach its consumers
// across partitions, for a proxy's Fetch responses: it holds a
// partition's records back until their step of the gate has come. Step 0
// opens at once; step i+1 opens once a consumer has fetched partition
// Steps[i].Partition at Steps[i].Below or beyond, so it has had those
// records. Within a partition the order stays the log's. Once the last
// step is open the gate holds nothing back.
//
// The gate judges from Fetch requests alone: a consumer that buffers
// what it fetched and processes it later sees the records in the gate's
// order and may still write them in another.
type Gate struct {
	topic string
	id    [16]byte // the topic's id, which Fetch v13+ names topics by
	steps []Release

	mu      sync.Mutex
	next    int             // the first step not yet open
	limit   map[int32]int64 // per partition: records below are released
	reached map[int32]int64 // per partition: the highest offset fetched at
	opened  chan struct{}   // closed and replaced when a step opens
}

// NewGate is a gate over t's records in the order steps gives. Every
// partition's limits must rise along steps.
func NewGate(t *Topic, steps []Release) (*Gate, error) {
	g := &Gate{topic: t.Name, id: t.id, steps: steps, limit: map[int32]int64{}, reached: map[int32]int64{}, opened: make(chan struct{})}
	last := map[int32]int64{}
	for i, s := range steps {
		if s.Partition < 0 || int(s.Partition) >= t.Partitions {
			return nil, fmt.Errorf("kafka: gate step %d: partition %d of a topic of %d", i+1, s.Partition, t.Partitions)
		}
		if s.Below < last[s.Partition] {
			return nil, fmt.Errorf("kafka: gate step %d: partition %d released below %d after %d", i+1, s.Partition, s.Below, last[s.Partition])
		}
		last[s.Partition] = s.Below
	}
	g.mu.Lock()
	g.open()
	g.mu.Unlock()
	return g, nil
}

// open opens the next step, and the ones after it whose records the
// consumer has had already (g.mu held).
func (g *Gate) open() {
	for g.next < len(g.steps) {
		s := g.steps[g.next]
		g.limit[s.Partition] = s.Below
		g.next++
		close(g.opened)
		g.opened = make(chan struct{})
		if g.reached[s.Partition] < s.Below {
			return
		}
	}
}

// names tells whether a Fetch topic (by name, or by id from v13) is the
// gate's.
func (g *Gate) names(topic string, id [16]byte) bool {
	return topic == g.topic || (id != [16]byte{} && id == g.id)
}

// fetchedAt notes that a consumer fetched partition p at offset.
func (g *Gate) fetchedAt(p int32, offset int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reached[p] = max(g.reached[p], offset)
	if g.next == 0 || g.next == len(g.steps) {
		return
	}
	if cur := g.steps[g.next-1]; g.reached[cur.Partition] >= cur.Below {
		g.open()
	}
}

// below is the offset below which partition p's records are released
// (all of them once the last step is open).
func (g *Gate) below(p int32) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.next == len(g.steps) {
		return 1<<63 - 1
	}
	return g.limit[p]
}

// wait returns once a step opens, or after d.
func (g *Gate) wait(d time.Duration) {
	g.mu.Lock()
	ch := g.opened
	g.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(d):
	}
}
