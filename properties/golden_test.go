package properties_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/idemcheck/idemcheck/properties"
	"github.com/idemcheck/idemcheck/reference/antipatterns"
)

// goldenFile holds what TestGoldenVerdicts compares against: one line per
// writer, seed and law.
var goldenFile = filepath.Join("testdata", "golden", "verdicts.txt")

// TestGoldenVerdicts is the engine's behaviour pinned: for seeds 1, 2 and
// 3 at 30 checks, every lesson's broken and fixed writer (on the laws the
// lesson names) and every reference writer (on every law it claims) must
// give the verdicts, first failures, trial counts, shrink trial counts,
// coverage and counterexample sizes of testdata/golden/verdicts.txt. A
// refactoring of the engine must leave them all as they are. The seeds are
// pinned because the file is a record of one run's results, not of a
// property of every seed; ShrinkTime is an hour so that shrinking always
// reaches its floor, whatever the machine's speed.
//
// It takes a few minutes, so it runs only with IDEMCHECK_GOLDEN set: "1"
// compares, "update" writes the file anew.
func TestGoldenVerdicts(t *testing.T) {
	mode := os.Getenv("IDEMCHECK_GOLDEN")
	if mode == "" {
		t.Skip("set IDEMCHECK_GOLDEN=1 to compare the engine's verdicts with testdata/golden/verdicts.txt (a few minutes), or =update to write it")
	}
	got := goldenLines(t)
	if mode == "update" {
		if err := os.MkdirAll(filepath.Dir(goldenFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenFile, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d lines to %s", len(got), goldenFile)
		return
	}
	b, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("the engine's verdicts changed (-%s +now):\n%s", goldenFile, d)
	}
}

// goldenCase is one writer checked by TestGoldenVerdicts.
type goldenCase struct {
	name  string
	w     func() W
	recs  properties.Records[harness.Order]
	claim []harness.Law // nil: the writer's own claims
	opts  []properties.Option
}

func goldenCases() []goldenCase {
	var cases []goldenCase
	for _, l := range antipatterns.Catalog() {
		var o []properties.Option
		if l.ModuloSurrogateKeys {
			o = append(o, properties.Compare(trial.ModuloSurrogateKeys()))
		}
		broken, fixed := l.Broken, l.Fixed
		cases = append(cases,
			goldenCase{"lesson " + l.Name, func() W { return broken }, orders(l.WholePartitions), l.Violates, o},
			goldenCase{"lesson " + l.Name + " fixed by " + l.Fix, func() W { return fixed }, orders(l.WholePartitions), l.Violates, o})
	}
	var names []string
	for name := range correct {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		cases = append(cases, goldenCase{"reference " + name, correct[name], orders(partitioned[name]), nil, nil})
	}
	return cases
}

// goldenLines checks every case for seeds 1 to 3, two at a time, and
// renders each law's outcome as one line.
func goldenLines(t *testing.T) []string {
	cases := goldenCases()
	type job struct {
		c    goldenCase
		seed uint64
	}
	var jobs []job
	for seed := uint64(1); seed <= 3; seed++ {
		for _, c := range cases {
			jobs = append(jobs, job{c, seed})
		}
	}
	out := make([][]string, len(jobs))
	slots := make(chan struct{}, 2)
	done := make(chan int)
	for i, j := range jobs {
		go func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			o := append([]properties.Option{properties.OnTarget(target), properties.ScenarioDir(t.TempDir()),
				properties.Checks(30), properties.Seed(j.seed), properties.ShrinkTime(time.Hour)}, j.c.opts...)
			if j.c.claim != nil {
				o = append(o, properties.Claim(j.c.claim...))
			}
			rep, _ := properties.CheckRecords(context.Background(), j.c.w, j.c.recs, o...)
			out[i] = goldenRender(fmt.Sprintf("%s seed %d", j.c.name, j.seed), rep)
			done <- i
		}()
	}
	for range jobs {
		<-done
	}
	var lines []string
	for _, o := range out {
		lines = append(lines, o...)
	}
	return lines
}

// goldenRender is one line per claimed law of rep: what the engine decided
// and how much it ran to decide it (not how long: durations vary).
func goldenRender(name string, rep *properties.Report) []string {
	if rep == nil {
		return []string{name + ": no report"}
	}
	var lines []string
	for _, lr := range rep.Laws {
		if lr.Verdict == properties.NotClaimed {
			continue
		}
		s := fmt.Sprintf("%s %s: %s trials=%d first=%d shrink=%d faults=[%s] crashes=%d/%d/%d coverage=[%s]",
			name, lr.Law, lr.Verdict, lr.Trials, lr.FirstFailure, lr.ShrinkTrials, lr.FaultSummary(), lr.InTx, lr.AtCommit, lr.AfterCommit, lr.CoverageSummary())
		if ce := lr.Counterexample; ce != nil {
			s += fmt.Sprintf(" ce=%db/%dr/%dd %q", ce.Batches, ce.Records, ce.Deliveries, ce.Summary)
		}
		if lr.Verdict == properties.Inconclusive || lr.Verdict == properties.NotRun {
			s += fmt.Sprintf(" reason=%q", lr.Reason)
		}
		lines = append(lines, s)
	}
	return lines
}
