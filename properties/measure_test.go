package properties_test

// Measurements: long runs whose figures go in the closing notes, as
// benchmarks (go test -run ^$ -bench 'Detection|Coverage' -benchtime 1x).

import (
	"context"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/idemcheck/idemcheck/properties"
	"github.com/idemcheck/idemcheck/reference/antipatterns"
)

type mcase struct {
	name      string
	w         func() W
	law       harness.Law
	partition bool
	modulo    bool
}

func measureCases() []mcase {
	var out []mcase
	for _, l := range antipatterns.Catalog() {
		for _, law := range l.Violates {
			broken := l.Broken
			out = append(out, mcase{l.Name, func() W { return broken }, law, l.WholePartitions, l.ModuloSurrogateKeys})
		}
	}
	out = append(out, mcase{"LateDeleteInsert", func() W { return lateLoader{} }, harness.CrashAtomicity, true, false},
		mcase{"LateDeleteInsert", func() W { return lateLoader{} }, harness.ZombieSafety, true, false},
		mcase{"PerRecordTotals", func() W { return perRecordTotals{} }, harness.RetryEquivalence, false, false},
		mcase{"PerRecordTotals", func() W { return perRecordTotals{} }, harness.ExactlyOnceEffect, false, false})
	return out
}

// BenchmarkDetection measures, for every anti-pattern and late-step
// writer, the trial that first fails over seeds 1..10 at 100 checks, with
// the smoke scenarios ("default") and without them ("random": the
// map-guided random trials alone). Run it with -benchtime 1x; it reports
// first-failure-median, first-failure-max and misses (seeds not caught).
func BenchmarkDetection(b *testing.B) {
	for _, mode := range []string{"default", "random"} {
		for _, c := range measureCases() {
			b.Run(mode+"/"+c.name+"/"+string(c.law), func(b *testing.B) {
				var firsts []int
				misses := 0
				for b.Loop() {
					firsts, misses = nil, 0
					for seed := 1; seed <= 10; seed++ {
						o := []properties.Option{properties.OnTarget(target), properties.ScenarioDir(os.TempDir()), properties.Claim(c.law), properties.Checks(100),
							properties.Seed(uint64(seed)), properties.ShrinkTime(10 * time.Millisecond)}
						if mode == "random" {
							o = append(o, properties.WithoutSmoke())
						}
						if c.modulo {
							o = append(o, properties.Compare(trial.ModuloSurrogateKeys()))
						}
						rep, _ := properties.CheckRecords(context.Background(), c.w, orders(c.partition), o...)
						if lr := rep.Laws[indexOf(c.law)]; lr.Verdict == properties.Violated {
							firsts = append(firsts, lr.FirstFailure)
						} else {
							misses++
						}
					}
				}
				sort.Ints(firsts)
				if len(firsts) > 0 {
					b.ReportMetric(float64(firsts[len(firsts)/2]), "first-failure-median")
					b.ReportMetric(float64(firsts[len(firsts)-1]), "first-failure-max")
				}
				b.ReportMetric(float64(misses), "misses")
			})
		}
	}
}

// BenchmarkCoverage measures each correct writer's coverage at 100 checks
// (seed 1) and its exhaustive exploration with DefaultBounds, per fault
// law: points, crashed, explored-points, states, exhaustive-s. Run it
// with -benchtime 1x.
func BenchmarkCoverage(b *testing.B) {
	ws := map[string]func() W{"LateOverwriteTx": func() W { return lateLoader{InTx: true} }}
	for k, v := range correct {
		ws[k] = v
	}
	part := map[string]bool{"LateOverwriteTx": true}
	for k := range partitioned {
		part[k] = true
	}
	for name, w := range ws {
		o := []properties.Option{properties.OnTarget(target), properties.ScenarioDir(os.TempDir()), properties.Seed(1)}
		claims := harness.AllLaws
		if cl, ok := w().(harness.Claimer); ok {
			claims = cl.Claims()
		}
		for _, law := range claims {
			if law == harness.Determinism || law == harness.ReplayIdempotence || law == harness.OrderIndependence || law == harness.IncrementalEquivalence {
				continue // no crash points
			}
			b.Run(name+"/"+string(law), func(b *testing.B) {
				var cv *properties.Coverage
				var ex *properties.Explored
				var seconds float64
				for b.Loop() {
					rep, _ := properties.CheckRecords(context.Background(), w, orders(part[name]), append(o, properties.Laws(law), properties.Checks(100))...)
					cv = rep.Laws[indexOf(law)].Coverage
					start := time.Now()
					rep, _ = properties.CheckRecords(context.Background(), w, orders(part[name]), append(o, properties.Laws(law), properties.Exhaustive(properties.DefaultBounds))...)
					ex, seconds = rep.Laws[indexOf(law)].Explored, time.Since(start).Seconds()
				}
				if cv != nil {
					b.ReportMetric(float64(cv.Points), "points")
					b.ReportMetric(float64(cv.Crashed), "crashed")
				}
				if ex != nil {
					b.ReportMetric(float64(ex.Points), "explored-points")
					b.ReportMetric(float64(ex.States), "states")
					b.ReportMetric(seconds, "exhaustive-s")
				}
			})
		}
	}
}
