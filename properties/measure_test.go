package properties_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"testing"

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

func TestMeasureDetection(t *testing.T) {
	if os.Getenv("IDEMCHECK_MEASURE") == "" {
		t.Skip("IDEMCHECK_MEASURE")
	}
	flag.Set("rapid.shrinktime", "10ms")
	for _, c := range measureCases() {
		var firsts []int
		misses := 0
		for seed := 1; seed <= 10; seed++ {
			flag.Set("rapid.seed", strconv.Itoa(seed))
			o := []properties.Option{properties.OnTarget(target), properties.ScenarioDir(os.TempDir()), properties.Claim(c.law), properties.Checks(100)}
			o = append(o, measureExtra()...)
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
