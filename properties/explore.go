package properties

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/idemcheck/idemcheck/faults"
	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
)

// Bounds bound exhaustive mode (see Exhaustive); the zero Bounds explores
// the smoke scenarios' batches with single faults only.
type Bounds struct {
	// BatchSets is how many drawn batch lists are explored besides the
	// smoke scenarios'. They are rapid's examples 1..N of the batch
	// generator: the same family on every run.
	BatchSets int `json:"batch_sets"`
	// DoubleFaults is how many double faults (a crash in the retry of a
	// crashed attempt) are tried per batch list and delivery, after every
	// single one.
	DoubleFaults int `json:"double_faults"`
}

// DefaultBounds are the CLI's defaults: two drawn batch lists, 16 double
// faults per delivery.
var DefaultBounds = Bounds{BatchSets: 2, DoubleFaults: 16}

// explore is exhaustive mode for spec's law: for each batch list of the
// family, every single fault point of every delivery (each followed by
// retries until ack; for CrashAtomicity every crash-left state judged),
// then double faults up to the bound. A law without crash points runs its
// smoke scenarios on every batch list. It stops at the first violation
// (ls's failure) and leaves what it explored in its tally. A
// part of a sharded run (Sharded) enumerates the whole family, the same
// points in the same order, and runs its share of them.
func (c *checker[R]) explore(spec lawSpec, ls *lawSearch[R]) error {
	b := *c.set.exhaustive
	sets := [][]harness.Batch[R]{c.smokeBatches()}
	for i := 1; i <= b.BatchSets; i++ {
		sets = append(sets, c.batches.Example(i))
	}
	ex := &Explored{Mode: "exhaustive", Bounds: b}
	ls.tally.explored = ex
	type point struct {
		batches []harness.Batch[R]
		convs   conversations
		ds      []harness.Delivery
	}
	var points []point
	for _, batches := range sets {
		clean, err := c.cachedCleanRun(batches)
		if err != nil {
			return err
		}
		ex.Scenarios++
		scenarios, collapsed := c.enumerate(spec, clean.convs, b)
		ex.Collapsed += collapsed
		for _, ds := range scenarios {
			points = append(points, point{batches, clean.convs, ds})
		}
	}
	states := map[string]bool{}
	defer func() {
		ex.States = len(states)
		if !c.set.shard.whole() { // Merge counts the distinct states of every part
			for k := range states {
				ex.StateIDs = append(ex.StateIDs, stateID(k))
			}
			sort.Strings(ex.StateIDs)
		}
	}()
	seen := func(obs *trial.Observation) {
		ex.Points++
		if obs != nil {
			states[stateKey(obs.Final)] = true
			for _, cr := range obs.Crashes {
				states[stateKey(cr.State)] = true
			}
		}
	}
	from, to := c.set.shard.trials(len(points))
	ls.offset += from // points are numbered as the whole run numbers them
	for next := from; next < to; next += c.set.parallel {
		outs := c.wave(spec, min(c.set.parallel, to-next), c.judge, func(i int) (harness.Scenario[R], conversations, error) {
			p := points[next+i]
			return withDeliveries(p.batches, p.ds), p.convs, nil
		})
		if found, err := c.settle(spec, outs, ls, seen); err != nil || found {
			return err
		}
	}
	return nil
}

// enumerate lists the deliveries exhaustive mode runs over batches with
// conversations convs: per delivery, each of spec's single faults (the
// other deliveries clean), then up to b.DoubleFaults double faults; and
// how many points were collapsed.
func (c *checker[R]) enumerate(spec lawSpec, convs conversations, b Bounds) (out [][]harness.Delivery, collapsed int) {
	if spec.explore == nil {
		return spec.smoke(convs), 0
	}
	for i, conv := range convs {
		singles, n := spec.explore(conv)
		collapsed += n
		for _, plans := range singles {
			out = append(out, withAttempts(len(convs), i, plans))
		}
		if !spec.doubles || b.DoubleFaults <= 0 {
			continue
		}
		n = 0
		for _, first := range byPriority(singles) {
			for _, second := range singles {
				if n == b.DoubleFaults {
					break
				}
				n++
				out = append(out, withAttempts(len(convs), i, append(append([]harness.AttemptPlan(nil), first...), second...)))
			}
		}
	}
	return out, collapsed
}

// byPriority orders single faults for doubling: crashes after a commit
// (the ambiguous ones) first, latest first; then the rest as they come.
func byPriority(singles [][]harness.AttemptPlan) [][]harness.AttemptPlan {
	out := append([][]harness.AttemptPlan(nil), singles...)
	rank := func(p []harness.AttemptPlan) int {
		if len(p) == 1 && len(p[0].Wire) == 1 {
			if f := p[0].Wire[0]; f.Kind == faults.CrashAfter && f.At.Commit > 0 {
				return -f.At.Commit
			}
		}
		return 0
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i]) < rank(out[j]) })
	return out
}

// withAttempts delivers n batches in order, delivery i with plans.
func withAttempts(n, i int, plans []harness.AttemptPlan) []harness.Delivery {
	ds := make([]harness.Delivery, n)
	for j := range ds {
		ds[j].Batch = j
	}
	ds[i].Attempts = plans
	return ds
}

// stateID is a short digest of a state key, for Merge.
func stateID(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:8])
}

// stateKey identifies a state by its tables' digests.
func stateKey(st *trial.State) string {
	if st == nil {
		return ""
	}
	var b strings.Builder
	for _, name := range st.TableNames() {
		t := st.Tables[name]
		fmt.Fprintf(&b, "%s:%s;", name, t.Digest())
	}
	return b.String()
}

// Explored says what exhaustive mode covered.
type Explored struct {
	Mode      string `json:"mode"`      // "exhaustive"
	Bounds    Bounds `json:"bounds"`    // the family explored
	Scenarios int    `json:"scenarios"` // batch lists explored
	Points    int    `json:"points"`    // fault points (and fixed scenarios) run
	States    int    `json:"states"`    // distinct states they left (final and crash-left)
	Collapsed int    `json:"collapsed"` // points not run: they provably leave the state of one that was
	// StateIDs are digests of those states, in a part of a sharded run:
	// Merge counts the distinct states over all parts with them.
	StateIDs []string `json:"state_ids,omitempty"`
}

// String is the bound a verdict names, e.g. "412 points in 8 scenarios,
// 186 distinct states".
func (e *Explored) String() string {
	if e.States == 0 { // a law that compares clean runs: no crash points
		return fmt.Sprintf("%d fixed scenarios on %d batch lists", e.Points, e.Scenarios)
	}
	s := fmt.Sprintf("%d points in %d scenarios, %d distinct states", e.Points, e.Scenarios, e.States)
	if e.Collapsed > 0 {
		s += fmt.Sprintf(" (%d more collapsed into equivalent ones)", e.Collapsed)
	}
	return s
}

// Coverage counts a law's crash points by class: the classes of the
// points of the conversations its trials saw, and how many a trial
// crashed at least once. Points whose crash leaves the same state (every
// point before an attempt's first step, a crash after a round and before
// the next, reads between steps) are one class, and so are the repeated
// iterations of a loop but its first, a middle and its last (see
// strategies.CrashPoints): a class is covered once any of its points was
// crashed, so coverage does not grow with the batch.
type Coverage struct {
	Points    int      `json:"points"` // classes seen
	Crashed   int      `json:"crashed"`
	Uncovered []string `json:"uncovered,omitempty"`  // the classes never crashed, in conversation order
	CrashedAt []string `json:"crashed_at,omitempty"` // the classes crashed, in conversation order (Merge joins parts by them)
	// RawPoints is how many points each class stands for (the distinct
	// points of the conversations seen, e.g. "crash-after at round 6
	// (DELETE)").
	RawPoints map[string]int `json:"raw_points,omitempty"`
}

// Fraction is Crashed/Points.
func (cv *Coverage) Fraction() float64 {
	if cv.Points == 0 {
		return 1
	}
	return float64(cv.Crashed) / float64(cv.Points)
}

// Raw is how many points the classes stand for.
func (cv *Coverage) Raw() int {
	n := 0
	for _, k := range cv.RawPoints {
		n += k
	}
	return n
}

// String is e.g. "3/4 crash point classes (40 points)".
func (cv *Coverage) String() string {
	return fmt.Sprintf("%d/%d crash point classes (%d points)", cv.Crashed, cv.Points, cv.Raw())
}

// uncoveredList names at most n uncovered classes, each with the number
// of points it stands for.
func (cv *Coverage) uncoveredList(n int) string {
	var names []string
	for i, c := range cv.Uncovered {
		if i == n {
			names = append(names, fmt.Sprintf("and %d more", len(cv.Uncovered)-n))
			break
		}
		names = append(names, fmt.Sprintf("%s [%d points]", c, cv.RawPoints[c]))
	}
	return strings.Join(names, "; ")
}
