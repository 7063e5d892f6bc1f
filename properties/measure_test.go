package properties_test

// Measurements behind IDEMCHECK_MEASURE: long runs whose figures go in the
// closing notes, not assertions.

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/idemcheck/idemcheck/harness"
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

// TestMeasureDetection (IDEMCHECK_MEASURE=1, or =nosmoke for the random
// trials alone) prints, for every anti-pattern and late-step writer, the
// trial that first failed for seeds 1..10 at 100 checks: the figures of
// the closing notes.
func TestMeasureDetection(t *testing.T) {
	if os.Getenv("IDEMCHECK_MEASURE") == "" {
		t.Skip("a measurement: set IDEMCHECK_MEASURE=1 (or nosmoke)")
	}
	flag.Set("rapid.shrinktime", "10ms")
	for _, c := range measureCases() {
		var firsts []int
		misses := 0
		for seed := 1; seed <= 10; seed++ {
			flag.Set("rapid.seed", strconv.Itoa(seed))
			o := []properties.Option{properties.OnTarget(target), properties.ScenarioDir(os.TempDir()), properties.Claim(c.law), properties.Checks(100)}
			if os.Getenv("IDEMCHECK_MEASURE") == "nosmoke" {
				o = append(o, properties.WithoutSmoke())
			}
			if c.partition {
				o = append(o, properties.PartitionBy(byDay))
			}
			if c.modulo {
				o = append(o, properties.Compare(harness.ModuloSurrogateKeys()))
			}
			rep, _ := properties.Check(context.Background(), c.w, o...)
			lr := rep.Laws[indexOf(c.law)]
			if lr.Verdict != properties.Violated {
				misses++
				continue
			}
			firsts = append(firsts, lr.FirstFailure)
		}
		sort.Ints(firsts)
		med, mx := -1, -1
		if len(firsts) > 0 {
			med, mx = firsts[len(firsts)/2], firsts[len(firsts)-1]
		}
		fmt.Printf("MEASURE %s/%s median %d max %d misses %d %v\n", c.name, c.law, med, mx, misses, firsts)
	}
}

// TestMeasureCoverage (IDEMCHECK_MEASURE=1) prints each correct writer's
// coverage at 100 checks and its exhaustive exploration per fault law,
// and where exhaustive mode first catches the late-step writers.
func TestMeasureCoverage(t *testing.T) {
	if os.Getenv("IDEMCHECK_MEASURE") == "" {
		t.Skip("a measurement: set IDEMCHECK_MEASURE=1")
	}
	flag.Set("rapid.seed", "1")
	flag.Set("rapid.shrinktime", "1s")
	ws := map[string]func() W{}
	for k, v := range correct {
		ws[k] = v
	}
	ws["LateOverwriteTx"] = func() W { return lateLoader{InTx: true} }
	part := map[string]bool{"LateOverwriteTx": true}
	for k := range partitioned {
		part[k] = true
	}
	for name, w := range ws {
		o := []properties.Option{properties.OnTarget(target), properties.ScenarioDir(os.TempDir())}
		if part[name] {
			o = append(o, properties.PartitionBy(byDay))
		}
		rep, err := properties.Check(context.Background(), w, append(o, properties.Checks(100))...)
		for _, l := range rep.Laws {
			if l.Coverage != nil {
				fmt.Printf("COVERAGE %s %s %s %s %v\n", name, l.Law, l.Verdict, l.Coverage, l.Coverage.Uncovered)
			}
		}
		if err != nil {
			fmt.Printf("COVERAGE %s error %v\n", name, err)
		}
		for _, l := range rep.Laws {
			if l.Verdict == properties.NotClaimed || l.Coverage == nil {
				continue
			}
			start := time.Now()
			r2, _ := properties.Check(context.Background(), w, append(o, properties.Laws(l.Law), properties.Exhaustive(properties.Bounds{}))...)
			l2 := r2.Laws[indexOf(l.Law)]
			fmt.Printf("EXHAUSTIVE %s %s %s %s %.1fs\n", name, l.Law, l2.Verdict, l2.Explored, time.Since(start).Seconds())
		}
	}
	for _, c := range lateCases {
		for _, law := range c.laws {
			start := time.Now()
			rep, _ := properties.Check(context.Background(), c.writer, lateOpts(c, law, properties.WithoutSmoke(), properties.Exhaustive(properties.Bounds{}))...)
			l := rep.Laws[indexOf(law)]
			fmt.Printf("EXHAUSTIVE %s %s %s first failure at point %d %.1fs\n", c.name, law, l.Verdict, l.FirstFailure, time.Since(start).Seconds())
		}
	}
}
