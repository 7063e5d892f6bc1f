package properties_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/properties"
)

func TestMeasureCoverage(t *testing.T) {
	if os.Getenv("IDEMCHECK_MEASURE") == "" {
		t.Skip("IDEMCHECK_MEASURE")
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
	_ = harness.AllLaws
}
