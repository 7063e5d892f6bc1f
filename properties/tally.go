package properties

import (
	"fmt"
	"sort"
	"strings"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/idemcheck/idemcheck/strategies"
)

// tally counts what a law's trials ran, in trial order: the trials, the
// injections, where crashes hit, and the crash points seen and crashed.
// The search stage (search.go, explore.go) owns it; one goroutine per law
// writes it.
type tally struct {
	trials                      int // search trials: smoke and random (or exhaustive) until the first failure
	faults                      map[Injection]int
	inTx, atCommit, afterCommit int
	// classes are the classes of the law's crash points seen (see
	// strategies.CrashPoints): for each, the points it stands for and the
	// earliest round it was seen at; crashed, the classes crashed.
	classes  map[string]*pointClass
	crashed  map[string]bool
	explored *Explored // what exhaustive mode covered (nil: random mode)
}

// pointClass is one class of crash points seen.
type pointClass struct {
	points map[string]bool // the points it stands for, by name
	first  int             // the earliest round it was seen at, for ordering
}

// add counts one trial of spec's law: the scenario's deliveries over
// batches whose conversations are convs, and what the run observed.
func (t *tally) add(spec lawSpec, ds []harness.Delivery, convs conversations, obs *trial.Observation) {
	t.trials++
	if t.faults == nil {
		t.faults = map[Injection]int{}
		t.classes, t.crashed = map[string]*pointClass{}, map[string]bool{}
	}
	if obs != nil {
		for k, n := range obs.Faults {
			if n > 0 {
				t.faults[Wire(k)]++
			}
		}
		if obs.LostAcks > 0 {
			t.faults[LostAcks]++
		}
		if obs.Zombies > 0 {
			t.faults[Zombies]++
		}
		t.inTx += obs.InTx
		t.atCommit += obs.AtCommit
		t.afterCommit += obs.AfterCmt
	}
	replayed, reordered := orderOf(ds)
	if replayed {
		t.faults[Replays]++
	}
	if reordered {
		t.faults[Reorders]++
	}
	if spec.points == nil {
		return
	}
	// A fault that fired is counted in the class of its point in the
	// clean conversation of its delivery's batch (where a faulty attempt
	// diverged from it, a point that the clean run does not have counts
	// for nothing).
	classOf := make([]map[string]string, len(ds)) // per delivery: point name → class
	for i, d := range ds {
		if d.Batch >= len(convs) {
			continue
		}
		classOf[i] = map[string]string{}
		for _, p := range spec.points(convs[d.Batch]) {
			classOf[i][p.Name] = p.Class
			t.see(p)
		}
	}
	if obs == nil {
		return
	}
	for _, st := range obs.Steps {
		if st.Delivery >= len(classOf) || classOf[st.Delivery] == nil {
			continue
		}
		for _, e := range st.Events {
			if e.Fault == nil {
				continue
			}
			if class, ok := classOf[st.Delivery][strategies.PointName(e.Fault.Kind, e)]; ok {
				t.crashed[class] = true
			}
		}
	}
}

// see counts point p in its class.
func (t *tally) see(p strategies.ClassedPoint) {
	c := t.classes[p.Class]
	if c == nil {
		c = &pointClass{points: map[string]bool{}, first: p.Round}
		t.classes[p.Class] = c
	}
	c.points[p.Name] = true
	c.first = min(c.first, p.Round)
}

// injected is a copy of the injections counted so far, for Progress.
func (t *tally) injected() map[Injection]int {
	out := make(map[Injection]int, len(t.faults))
	for k, v := range t.faults {
		out[k] = v
	}
	return out
}

// covered reports whether a passing run of spec's law would prove
// something now: a fault it needs fired (when it needs one), and every
// class of crash points seen was crashed.
func (t *tally) covered(spec lawSpec) bool {
	fired := len(spec.needs) == 0
	for _, k := range spec.needs {
		fired = fired || t.faults[k] > 0
	}
	return fired && len(t.crashed) == len(t.classes)
}

// coverage counts the classes of crash points seen and crashed, and the
// points each stands for (nil when the law has none).
func (t *tally) coverage() *Coverage { return coverageOf(t.classes, t.crashed) }

// coverageOf makes the Coverage of classes seen, those in crashed hit,
// in the order they were first seen (nil for no classes).
func coverageOf(classes map[string]*pointClass, crashed map[string]bool) *Coverage {
	if len(classes) == 0 {
		return nil
	}
	names := make([]string, 0, len(classes))
	for name := range classes {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := classes[names[i]], classes[names[j]]
		if a.first != b.first {
			return a.first < b.first
		}
		return names[i] < names[j]
	})
	cv := &Coverage{Points: len(names), RawPoints: map[string]int{}}
	for _, name := range names {
		cv.RawPoints[name] = len(classes[name].points)
		if crashed[name] {
			cv.Crashed++
			cv.CrashedAt = append(cv.CrashedAt, name)
		} else {
			cv.Uncovered = append(cv.Uncovered, name)
		}
	}
	return cv
}

// orderOf says whether deliveries deliver a batch more than once, and
// whether they deliver one before a batch delivered earlier.
func orderOf(ds []harness.Delivery) (replayed, reordered bool) {
	seen := map[int]bool{}
	last := -1
	for _, d := range ds {
		if seen[d.Batch] {
			replayed = true
		}
		if d.Batch < last {
			reordered = true
		}
		seen[d.Batch] = true
		last = d.Batch
	}
	return replayed, reordered
}

// uncovered says why a passing law proves nothing: none of its faults
// fired in its trials, or fewer than min of the classes of the writer's
// crash points (cv; nil: not counted) were crashed.
func uncovered(spec lawSpec, faults map[Injection]int, trials int, cv *Coverage, min float64) string {
	if len(spec.needs) > 0 {
		fired := false
		var names []string
		for _, k := range spec.needs {
			fired = fired || faults[k] > 0
			names = append(names, string(k))
		}
		if !fired {
			return fmt.Sprintf("no trial injected %s in %d trials, so passing proves nothing; the writer may send nothing to the server for the batches drawn", strings.Join(names, " or "), trials)
		}
	}
	if cv != nil && float64(cv.Crashed) < min*float64(cv.Points) {
		return fmt.Sprintf("only %d of the %d classes of the writer's crash points (%d points) were crashed (%.0f%%, below the minimum coverage of %.0f%%); never crashed: %s; run more trials or the exhaustive mode",
			cv.Crashed, cv.Points, cv.Raw(), 100*float64(cv.Crashed)/float64(cv.Points), 100*min, cv.uncoveredList(8))
	}
	return ""
}
