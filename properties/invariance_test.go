package properties_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/properties"
	"github.com/idemcheck/idemcheck/reference"
	"github.com/idemcheck/idemcheck/reference/antipatterns"
)

// A certification split into parts and merged gives what the whole run
// gives: the same verdicts and first failures, the trials summed, the
// same coverage; parts that do not belong together are refused.
func TestShardsMergeToTheWholeRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		w    func() W
	}{{"Upsert", func() W { return reference.Upsert{} }}, {"NaiveInsert", func() W { return antipatterns.NaiveInsert{} }}} {
		t.Run(tc.name, func(t *testing.T) {
			o := []properties.Option{properties.OnTarget(target), properties.ScenarioDir(t.TempDir()), properties.Claim(harness.AllLaws...),
				properties.Checks(12), properties.Seed(7), properties.MinCoverage(0.3)}
			whole, parts, merged := splitRun(t, tc.w, o, 2, 0, 1)
			for i, w := range whole.Laws {
				m := merged.Laws[i]
				t.Logf("%s: whole %s (%d trials, first failure %d, %s), merged %s (%d trials, first failure %d, %s)",
					w.Law, w.Verdict, w.Trials, w.FirstFailure, w.CoverageSummary(), m.Verdict, m.Trials, m.FirstFailure, m.CoverageSummary())
				if m.Verdict != w.Verdict || m.FirstFailure != w.FirstFailure {
					t.Errorf("%s: merged %s at trial %d, whole run %s at trial %d", w.Law, m.Verdict, m.FirstFailure, w.Verdict, w.FirstFailure)
				}
				if w.Verdict == properties.Held && (m.Trials != w.Trials || m.CoverageSummary() != w.CoverageSummary()) {
					t.Errorf("%s: merged %d trials, %s; whole run %d trials, %s", w.Law, m.Trials, m.CoverageSummary(), w.Trials, w.CoverageSummary())
				}
			}
			if _, err := properties.Merge(parts[0], parts[1]); !errors.Is(err, properties.ErrParts) || !strings.Contains(err.Error(), "part 3/3 is missing") {
				t.Errorf("a missing part: %v", err)
			}
			if _, err := properties.Merge(parts[0], parts[0], parts[2]); !errors.Is(err, properties.ErrParts) {
				t.Errorf("a part given twice: %v", err)
			}
			other, _ := properties.Check(context.Background(), tc.w, append(o, properties.Seed(8), properties.Sharded(properties.Shard{Index: 2, Of: 3}))...)
			if _, err := properties.Merge(parts[0], other, parts[2]); !errors.Is(err, properties.ErrParts) || !strings.Contains(err.Error(), "--seed") {
				t.Errorf("parts of two runs: %v", err)
			}
		})
	}
	if _, err := properties.Check(context.Background(), func() W { return reference.Upsert{} }, properties.OnTarget(target),
		properties.Sharded(properties.Shard{Index: 1, Of: 2})); err == nil || !strings.Contains(err.Error(), "same Seed") {
		t.Errorf("a part without a seed: %v", err)
	}
}

// TestReusedSandboxesChangeNoVerdict runs the same check with sandboxes
// reused (the default) and with a fresh sandbox per run: every law's
// verdict, trial count, first failure, coverage and counterexample must be
// the same, for a correct writer, a broken one and a writer whose Setup
// leaves rows (never reused).
func TestReusedSandboxesChangeNoVerdict(t *testing.T) {
	for _, tc := range []struct {
		name  string
		w     func() W
		reuse bool
	}{
		{"Upsert", func() W { return reference.Upsert{} }, true},
		{"NaiveInsert", func() W { return antipatterns.NaiveInsert{} }, true},
		{"SeededSetup", func() W { return seededSetup{} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reused, fresh := checkTwice(t, tc.w, properties.FreshSandboxes())
			if got := reused.Phases.Reused > 0; got != tc.reuse {
				t.Errorf("%d of %d runs reused a sandbox (%s)", reused.Phases.Reused, reused.Phases.Runs, reused.Phases.NoReuse)
			}
			if fresh.Phases.Reused != 0 {
				t.Errorf("FreshSandboxes: %d runs reused a sandbox", fresh.Phases.Reused)
			}
			sameVerdicts(t, "reused", reused, "fresh", fresh)
		})
	}
}

// checkTwice checks w (every law, 15 checks, seed 11) as it is and with
// opt, and logs where both runs' time went.
func checkTwice(t *testing.T, w func() W, opt properties.Option) (plain, with *properties.Report) {
	t.Helper()
	o := []properties.Option{properties.OnTarget(target), properties.ScenarioDir(t.TempDir()), properties.Claim(harness.AllLaws...),
		properties.Checks(15), properties.Seed(11), properties.MinCoverage(0.3)}
	plain, _ = properties.Check(context.Background(), w, o...)
	with, _ = properties.Check(context.Background(), w, append(o, opt)...)
	t.Logf("as it is: %s; with the option: %s", plain.Phases, with.Phases)
	return plain, with
}

// sameVerdicts requires every law of a and b to have the same verdict,
// trials, first failure, coverage and counterexample.
func sameVerdicts(t *testing.T, aName string, a *properties.Report, bName string, b *properties.Report) {
	t.Helper()
	for i, r := range a.Laws {
		f := b.Laws[i]
		if r.Verdict != f.Verdict || r.Trials != f.Trials || r.FirstFailure != f.FirstFailure || r.CoverageSummary() != f.CoverageSummary() {
			t.Errorf("%s: %s %s after %d trials (first failure %d, %s); %s %s after %d trials (first failure %d, %s)",
				r.Law, aName, r.Verdict, r.Trials, r.FirstFailure, r.CoverageSummary(), bName, f.Verdict, f.Trials, f.FirstFailure, f.CoverageSummary())
		}
		if (r.Counterexample == nil) != (f.Counterexample == nil) ||
			r.Counterexample != nil && (r.Counterexample.Summary != f.Counterexample.Summary || r.Counterexample.Diff != f.Counterexample.Diff ||
				(r.Counterexample.Sandbox == "") != (f.Counterexample.Sandbox == "")) {
			t.Errorf("%s: the counterexamples differ:\n%s: %v\n%s: %v", r.Law, aName, r.Counterexample, bName, f.Counterexample)
		}
	}
}

// TestSharedRunsChangeNoVerdict checks that sharing runs (RetryEquivalence
// and CrashAtomicity judging one run per trial together; the clean states
// of batch prefixes taken during the clean run of all the batches; a
// faultless trial judged by its batches' clean run) gives
// every law the verdicts, trials, first failures, coverage and
// counterexamples (with their kept sandboxes) that runs of their own give,
// with fewer runs: for a writer that holds every law, one that violates
// most, and one that violates CrashAtomicity but not RetryEquivalence (its
// retries repair what its crashes leave; its crash states are judged
// against the prefixes' clean states).
func TestSharedRunsChangeNoVerdict(t *testing.T) {
	for _, tc := range []struct {
		name string
		w    func() W
	}{
		{"Upsert", func() W { return reference.Upsert{} }},
		{"NaiveInsert", func() W { return antipatterns.NaiveInsert{} }},
		{"DeleteInsertNoTx", func() W { return antipatterns.DeleteInsertNoTx{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shared, separate := checkTwice(t, tc.w, properties.UnsharedRuns())
			if shared.Phases.Runs >= separate.Phases.Runs {
				t.Errorf("shared runs: %d runs; separate: %d", shared.Phases.Runs, separate.Phases.Runs)
			}
			sameVerdicts(t, "shared", shared, "separate", separate)
		})
	}
}

// TestParallelChangesNoVerdict checks that how many trials run at once
// changes no verdict, trial count, first failure, coverage or
// counterexample: one at a time, three, and the default, for a writer that
// holds every law and two that violate some. Without the smoke scenarios,
// each broken writer is checked with the first seed (from 1, so the same
// one every run) at which a law is first violated by a random trial past
// the first few, so that the counterexample is found while later trials
// are under way, which are dropped.
func TestParallelChangesNoVerdict(t *testing.T) {
	o := []properties.Option{properties.OnTarget(target), properties.ScenarioDir(t.TempDir()), properties.Claim(harness.AllLaws...),
		properties.Checks(15), properties.MinCoverage(0.3), properties.WithoutSmoke()}
	for _, tc := range []struct {
		name string
		w    func() W
		late bool // a seed is wanted at which a law is first violated past trial 5
	}{
		{"Upsert", func() W { return reference.Upsert{} }, false},
		{"NaiveInsert", func() W { return antipatterns.NaiveInsert{} }, true},
		{"DeleteInsertNoTx", func() W { return antipatterns.DeleteInsertNoTx{} }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seed := uint64(1)
			def, _ := properties.Check(context.Background(), tc.w, append(o, properties.Seed(seed))...)
			for tc.late && !violatedPast(def, 5) {
				if seed++; seed > 40 {
					t.Fatal("no seed from 1 to 40 has a law first violated past trial 5")
				}
				def, _ = properties.Check(context.Background(), tc.w, append(o, properties.Seed(seed))...)
			}
			t.Logf("seed %d", seed)
			for _, n := range []int{1, 3} {
				r, _ := properties.Check(context.Background(), tc.w, append(o, properties.Seed(seed), properties.Parallel(n))...)
				sameVerdicts(t, "default", def, fmt.Sprintf("%d at a time", n), r)
			}
		})
	}
}

// violatedPast reports whether a law of rep was first violated past trial n.
func violatedPast(rep *properties.Report, n int) bool {
	for _, l := range rep.Laws {
		if l.FirstFailure > n {
			return true
		}
	}
	return false
}

// splitRun checks w with o whole and in len(order) parts, and merges the
// parts in the order given (indexes of the parts).
func splitRun(t *testing.T, w func() W, o []properties.Option, order ...int) (whole *properties.Report, parts []*properties.Report, merged *properties.Report) {
	t.Helper()
	whole, _ = properties.Check(context.Background(), w, o...)
	for i := 1; i <= len(order); i++ {
		p, _ := properties.Check(context.Background(), w, append(o, properties.Sharded(properties.Shard{Index: i, Of: len(order)}))...)
		parts = append(parts, p)
	}
	var shuffled []*properties.Report
	for _, i := range order {
		shuffled = append(shuffled, parts[i])
	}
	merged, err := properties.Merge(shuffled...)
	if err != nil {
		t.Fatal(err)
	}
	return whole, parts, merged
}

// TestExhaustiveShardsMergeToTheWholeRun splits exhaustive mode into 3
// parts: merged, they give the whole run's verdicts and first failures
// and, where the law held, its points and distinct states. Without the
// smoke scenarios NaiveInsert's violations are found among the points
// (each part finds its own; the merge keeps the whole run's first).
func TestExhaustiveShardsMergeToTheWholeRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		w    func() W
		opts []properties.Option
	}{
		{"Upsert", func() W { return reference.Upsert{} }, nil},
		{"NaiveInsert", func() W { return antipatterns.NaiveInsert{} }, nil},
		{"NaiveInsert/points only", func() W { return antipatterns.NaiveInsert{} }, []properties.Option{properties.WithoutSmoke()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := append([]properties.Option{properties.OnTarget(target), properties.ScenarioDir(t.TempDir()), properties.Claim(harness.AllLaws...),
				properties.Laws(harness.Determinism, harness.RetryEquivalence, harness.CrashAtomicity, harness.ZombieSafety),
				properties.Exhaustive(properties.Bounds{BatchSets: 1, DoubleFaults: 2}), properties.Seed(5), properties.MinCoverage(0.3)}, tc.opts...)
			whole, _, merged := splitRun(t, tc.w, o, 1, 2, 0)
			for i, w := range whole.Laws {
				m := merged.Laws[i]
				if w.Verdict == properties.NotClaimed {
					continue
				}
				t.Logf("%s: whole %s (first failure %d, %v), merged %s (first failure %d, %v)", w.Law, w.Verdict, w.FirstFailure, w.Explored, m.Verdict, m.FirstFailure, m.Explored)
				if m.Verdict != w.Verdict || m.FirstFailure != w.FirstFailure {
					t.Errorf("%s: merged %s at point %d, whole run %s at point %d", w.Law, m.Verdict, m.FirstFailure, w.Verdict, w.FirstFailure)
				}
				if w.Verdict == properties.Held && (m.Explored == nil || m.Explored.Points != w.Explored.Points || m.Explored.States != w.Explored.States) {
					t.Errorf("%s: merged explored %v; whole run %v", w.Law, m.Explored, w.Explored)
				}
			}
		})
	}
}
