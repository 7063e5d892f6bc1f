package properties_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/idemcheck/idemcheck/properties"
	"github.com/idemcheck/idemcheck/reference"
	"github.com/idemcheck/idemcheck/reference/antipatterns"
)

// serverKiller is the reference upsert that kills the server's
// postmaster (kill -9) at its at-th Write, counted over every attempt of
// the check: a server that dies mid-run.
type serverKiller struct {
	reference.Upsert
	pid    int
	at     int32
	writes *atomic.Int32
}

func (w serverKiller) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	if w.writes.Add(1) == w.at {
		_ = syscall.Kill(w.pid, syscall.SIGKILL)
	}
	return w.Upsert.Write(ctx, env, b)
}

// settleCase is a writer whose certificate some finding settles, checked
// the three ways.
type settleCase struct {
	name string
	// newWriter makes the writer on tg (a server of the case's own when
	// ownServer).
	newWriter func(t testing.TB, tg *trial.Target) func() W
	claim     []harness.Law // nil: the writer's own claims
	ownServer bool          // the case kills its server: it gets an ephemeral cluster of its own per way
}

var settleCases = []settleCase{
	{name: "nondeterministic", newWriter: func(testing.TB, *trial.Target) func() W {
		return func() W { return antipatterns.NonDeterministicTransform{} }
	}, claim: harness.AllLaws},
	{name: "several-violations", newWriter: func(testing.TB, *trial.Target) func() W {
		return func() W { return antipatterns.NaiveInsert{} }
	}, claim: harness.AllLaws},
	{name: "server-dies", ownServer: true, newWriter: func(t testing.TB, tg *trial.Target) func() W {
		pid, err := victimPID(context.Background(), tg, "")
		if err != nil {
			t.Fatal(err)
		}
		w := serverKiller{pid: pid, at: 40, writes: new(atomic.Int32)}
		return func() W { return w }
	}},
}

// settleTarget is where a case runs: the suite's server, or for a case
// that kills its server an ephemeral cluster of its own.
func settleTarget(t testing.TB, c settleCase) *trial.Target {
	if !c.ownServer {
		return target
	}
	tg, err := trial.OpenTarget(context.Background(), trial.ByWay(trial.WayLocal), trial.NoSignalHandling())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg
}

func (c settleCase) options(tg *trial.Target, seed uint64) []properties.Option {
	o := []properties.Option{properties.OnTarget(tg), properties.ScenarioDir(os.TempDir()), properties.Checks(30), properties.Seed(seed),
		properties.DiscardFaultyStates()}
	if c.claim != nil {
		o = append(o, properties.Claim(c.claim...))
	}
	return o
}

// TestCertifyCheckAndMergeSettleAlike checks, for a writer whose clean
// runs differ, one that violates several laws and one whose server dies
// mid-run, that Certify, Check and Merge of three shards give every law
// the same verdict: the findings that settle a certificate are applied by
// one rule (settleLaws), whatever order the laws finished in. The seed is
// drawn anew each run (and logged): the agreement must hold for any seed.
// Certify runs in a child process (TestCertifyForSettleCase), since its
// verdicts are its subtests' results.
func TestCertifyCheckAndMergeSettleAlike(t *testing.T) {
	seed := rand.Uint64N(1<<32) + 1
	t.Logf("seed %d", seed)
	for _, c := range settleCases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			tg := settleTarget(t, c)
			rep, _ := properties.CheckRecords(ctx, c.newWriter(t, tg), properties.Orders(), c.options(tg, seed)...)
			checked := verdictsOf(rep)

			tg = settleTarget(t, c)
			newWriter := c.newWriter(t, tg)
			var parts []*properties.Report
			for i := 1; i <= 3; i++ {
				p, _ := properties.CheckRecords(ctx, newWriter, properties.Orders(),
					append(c.options(tg, seed), properties.Sharded(properties.Shard{Index: i, Of: 3}))...)
				parts = append(parts, p)
			}
			merged, err := properties.Merge(parts[2], parts[0], parts[1])
			if err != nil {
				t.Fatal(err)
			}

			certified := certifyInChild(t, c, seed)
			if d := cmp.Diff(checked, verdictsOf(merged)); d != "" {
				t.Errorf("Check and Merge of 3 shards differ (-Check +Merge):\n%s", d)
			}
			if d := cmp.Diff(checked, certified); d != "" {
				t.Errorf("Check and Certify differ (-Check +Certify):\n%s", d)
			}
			t.Logf("every way: %v", checked)
		})
	}
}

// verdictsOf is each law's outcome as Certify's subtests can show it:
// held, violated, inconclusive, or skipped (not claimed or not run).
func verdictsOf(rep *properties.Report) map[harness.Law]string {
	out := map[harness.Law]string{}
	for _, lr := range rep.Laws {
		switch lr.Verdict {
		case properties.NotClaimed, properties.NotRun:
			out[lr.Law] = "skipped"
		default:
			out[lr.Law] = string(lr.Verdict)
		}
	}
	return out
}

// certifyInChild runs Certify for c in a child process of this test
// binary and reads each law's outcome from its subtests.
func certifyInChild(t *testing.T, c settleCase, seed uint64) map[harness.Law]string {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCertifyForSettleCase$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "IDEMCHECK_SETTLE_CASE="+c.name, "IDEMCHECK_SETTLE_SEED="+strconv.FormatUint(seed, 10),
		trial.EnvDatabaseURL+"="+target.ConnString(), trial.EnvTarget+"=")
	out, _ := cmd.CombinedOutput() // it fails when a law is violated or inconclusive
	results := regexp.MustCompile(`(?m)^\s*--- (PASS|FAIL|SKIP): TestCertifyForSettleCase/(\w+)`).FindAllStringSubmatch(string(out), -1)
	if len(results) != len(harness.AllLaws) {
		t.Fatalf("Certify reported %d laws, want %d:\n%s", len(results), len(harness.AllLaws), out)
	}
	got := map[harness.Law]string{}
	for _, r := range results {
		law := harness.Law(r[2])
		switch r[1] {
		case "PASS":
			got[law] = string(properties.Held)
		case "SKIP":
			got[law] = "skipped"
		default:
			got[law] = string(properties.Violated)
			if regexp.MustCompile(`(?m)^\s*\S+: ` + string(law) + ` is inconclusive: `).Match(out) {
				got[law] = string(properties.Inconclusive)
			}
		}
	}
	return got
}

// TestCertifyForSettleCase is TestCertifyCheckAndMergeSettleAlike's child:
// it certifies one case and does nothing in a run of the suite.
func TestCertifyForSettleCase(t *testing.T) {
	name := os.Getenv("IDEMCHECK_SETTLE_CASE")
	if name == "" {
		t.Skip("the child of TestCertifyCheckAndMergeSettleAlike (IDEMCHECK_SETTLE_CASE names its case)")
	}
	seed, err := strconv.ParseUint(os.Getenv("IDEMCHECK_SETTLE_SEED"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range settleCases {
		if c.name == name {
			tg := settleTarget(t, c)
			properties.CertifyRecords(t, c.newWriter(t, tg), properties.Orders(), c.options(tg, seed)...)
			return
		}
	}
	t.Fatal(fmt.Sprintf("no settle case %q", name))
}
