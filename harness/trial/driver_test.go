package trial_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/idemcheck/idemcheck/faults"
	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
	rt "github.com/idemcheck/idemcheck/internal/reftest"
	"github.com/idemcheck/idemcheck/reference"
	"github.com/idemcheck/idemcheck/reference/antipatterns"
)

// The driver's tests live in package trial_test so they can use the
// reference writers.
func target(*testing.T) *trial.Target { return trial.SharedTarget() }

type W = harness.Writer[harness.Order]

var batches = []harness.Batch[harness.Order]{
	rt.Batch(1, rt.Order(1, 1, 1, "10.00"), rt.Order(2, 1, 1, "20.50")),
	rt.Batch(2, rt.Order(1, 2, 1, "12.50"), rt.Order(3, 1, 2, "7")),
}

func run(t *testing.T, w W, deliveries ...harness.Delivery) *trial.Observation {
	t.Helper()
	ctx := context.Background()
	obs, err := trial.Run(ctx, target(t), w, harness.Scenario[harness.Order]{Batches: batches, Deliveries: deliveries})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { obs.Sandbox.Drop(context.Background()) })
	return obs
}

func clean(t *testing.T, w W) *trial.Observation {
	return run(t, w, harness.CleanScenario(batches).Deliveries...)
}

func diff(t *testing.T, a, b *trial.State) *trial.Diff {
	t.Helper()
	d, err := trial.Compare(context.Background(), a, b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func del(batch int, attempts ...harness.AttemptPlan) harness.Delivery {
	return harness.Delivery{Batch: batch, Attempts: attempts}
}

func wire(s string) harness.AttemptPlan {
	p, err := faults.ParsePlan(s)
	if err != nil {
		panic(err)
	}
	return harness.AttemptPlan{Wire: p}
}

func TestRunRetriesThroughCrashes(t *testing.T) {
	want := clean(t, reference.Upsert{})
	obs := run(t, reference.Upsert{},
		// Round 1 prepares the INSERT (pgx's Parse/Describe), round 2 runs it.
		del(0, wire("crash-before at round 2"), wire("crash-after at round 2")),
		del(1, wire("error 40001 at round 1")))
	if d := diff(t, want.Final, obs.Final); !d.Equal {
		t.Errorf("Upsert through crashes:\n%s", d)
	}
	if obs.Faults[faults.CrashBefore] != 1 || obs.Faults[faults.CrashAfter] != 1 || obs.Faults[faults.Error] != 1 {
		t.Errorf("faults fired: %v", obs.Faults)
	}
	if len(obs.Crashes) != 2 || obs.AfterCmt != 1 {
		t.Errorf("want 2 crash snapshots, 1 after a commit; got %d, %d", len(obs.Crashes), obs.AfterCmt)
	}
	var outcomes []string
	for _, s := range obs.Steps {
		outcomes = append(outcomes, string(s.Outcome))
	}
	if got := strings.Join(outcomes, ","); got != "failed,failed,acked,failed,acked" {
		t.Errorf("outcomes %s", got)
	}
}

func TestAmbiguousCommitDuplicatesNaiveInsert(t *testing.T) {
	want := clean(t, antipatterns.NaiveInsert{})
	obs := run(t, antipatterns.NaiveInsert{}, del(0, wire("crash-after at copy 1")), del(1))
	d := diff(t, want.Final, obs.Final)
	if d.Equal || !strings.Contains(d.String(), "2 rows extra") {
		t.Errorf("the retry after an ambiguous commit must duplicate batch b1:\n%s", d)
	}
	// The crash snapshot holds b1 once: it committed, then the reply was lost.
	if len(obs.Crashes) != 1 || obs.Crashes[0].State.Tables["orders_log"].Count != 2 {
		t.Errorf("crash snapshot: %+v", obs.Crashes)
	}
}

func TestLostAckRedelivers(t *testing.T) {
	for _, tc := range []struct {
		w     W
		equal bool
	}{{reference.Dedup{}, true}, {antipatterns.NaiveInsert{}, false}} {
		t.Run(fmt.Sprintf("%T", tc.w), func(t *testing.T) {
			want := clean(t, tc.w)
			obs := run(t, tc.w, del(0, harness.AttemptPlan{LostAck: true}), del(1))
			if obs.LostAcks != 1 {
				t.Errorf("lost acks %d", obs.LostAcks)
			}
			if d := diff(t, want.Final, obs.Final); d.Equal != tc.equal {
				t.Errorf("equal = %v, want %v\n%s", d.Equal, tc.equal, d)
			}
		})
	}
}

func TestZombieOverlap(t *testing.T) {
	for _, tc := range []struct {
		w     W
		at    string
		kill  bool
		equal bool
	}{
		{reference.PartitionOverwrite{}, "commit 1", false, true},
		{reference.PartitionOverwrite{}, "commit 1", true, true},
		{antipatterns.DeleteInsertNoTx{}, "copy 1", false, false},         // deleted, stalls before its COPY
		{antipatterns.SeedDeduplicatingWriter{}, "round 3", false, false}, // checked key 1, stalls before recording it
	} {
		t.Run(fmt.Sprintf("%T/%s/kill=%v", tc.w, tc.at, tc.kill), func(t *testing.T) {
			want := run(t, tc.w, del(0))
			p, err := faults.ParsePlan("pause at " + tc.at)
			if err != nil {
				t.Fatal(err)
			}
			obs := run(t, tc.w, del(0, harness.AttemptPlan{Zombie: &harness.Zombie{At: p[0].At, Kill: tc.kill}}))
			if obs.Zombies != 1 {
				t.Fatalf("zombies %d; steps %v", obs.Zombies, obs.Steps)
			}
			if d := diff(t, want.Final, obs.Final); d.Equal != tc.equal {
				t.Errorf("equal = %v, want %v\n%s\nsteps: %v", d.Equal, tc.equal, d, obs.Steps)
			}
		})
	}
}

func TestAttemptBound(t *testing.T) {
	crash := wire("crash-before at round 1")
	obs, err := trial.Run(context.Background(), target(t), harness.Writer[harness.Order](reference.Upsert{}),
		harness.Scenario[harness.Order]{Batches: batches, Deliveries: []harness.Delivery{del(0, crash, crash, crash, crash)}},
		trial.MaxAttempts(3))
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Sandbox.Drop(context.Background())
	if len(obs.Exhausted) != 1 || obs.Exhausted[0] != "b1" || len(obs.Steps) != 3 {
		t.Errorf("exhausted %v after %d steps", obs.Exhausted, len(obs.Steps))
	}
}

func TestSameScenarioSameTimeline(t *testing.T) {
	deliveries := []harness.Delivery{del(0, wire("crash-after at commit 1")), del(1, wire("error 40P01 at round 1")), del(0)}
	var first string
	for i := range 3 {
		obs := run(t, reference.Dedup{}, deliveries...)
		var b strings.Builder
		for _, s := range obs.Steps {
			fmt.Fprintln(&b, s)
			for _, e := range s.Events {
				fmt.Fprintln(&b, "  ", e)
			}
		}
		if i == 0 {
			first = b.String()
			t.Logf("timeline:\n%s", first)
		} else if b.String() != first {
			t.Fatalf("run %d gave another timeline:\n%s\nfirst:\n%s", i, b.String(), first)
		}
	}
}

func TestSetupFailureIsAnError(t *testing.T) {
	_, err := trial.Run(context.Background(), target(t), harness.Writer[harness.Order](badSetup{}), harness.CleanScenario(batches))
	if err == nil || !strings.Contains(err.Error(), "writer setup failed") {
		t.Errorf("got %v", err)
	}
}

type badSetup struct{ reference.Upsert }

func (badSetup) Setup(ctx context.Context, env *harness.Env) error {
	_, err := env.Conn.Exec(ctx, "CREATE TABLE (")
	return err
}

// NoCrashStates keeps every crash (for the verdict and the timeline)
// but not the state it left, and the final state is the same.
func TestRunWithoutCrashStates(t *testing.T) {
	ctx := context.Background()
	want := clean(t, reference.Upsert{})
	sc := harness.Scenario[harness.Order]{Batches: batches, Deliveries: []harness.Delivery{
		del(0, wire("crash-before at round 2"), wire("crash-after at round 2")), del(1)}}
	obs, err := trial.Run(ctx, target(t), reference.Upsert{}, sc, trial.NoCrashStates())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { obs.Sandbox.Drop(context.Background()) })
	if len(obs.Crashes) != 2 || obs.Crashes[0].State != nil || obs.Crashes[1].State != nil || obs.Phases.Crashes != 0 {
		t.Errorf("want 2 crashes without states, no time snapshotting them; got %+v, %s", obs.Crashes, obs.Phases.Crashes)
	}
	if d := diff(t, want.Final, obs.Final); !d.Equal {
		t.Errorf("final state:\n%s", d)
	}
	if obs.Phases.Sandbox <= 0 || obs.Phases.Setup <= 0 || obs.Phases.Attempts <= 0 || obs.Phases.Snapshot <= 0 {
		t.Errorf("phases not measured: %+v", obs.Phases)
	}
}

// TestAckedStatesAreThePrefixesCleanRuns checks AckedStates: the state
// after each acked delivery of a clean run is the final state of a clean
// run of the batches up to it, for a writer whose result depends on the
// order (a log with a serial key) and one whose result does not.
func TestAckedStatesAreThePrefixesCleanRuns(t *testing.T) {
	ctx := context.Background()
	three := append(batches[:2:2], rt.Batch(3, rt.Order(2, 2, 3, "1"), rt.Order(4, 1, 3, "4")))
	for _, w := range []W{reference.Upsert{}, antipatterns.NaiveInsert{}} {
		obs, err := trial.Run(ctx, target(t), w, harness.CleanScenario(three), trial.AckedStates())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { obs.Sandbox.Drop(context.Background()) })
		if len(obs.AckedStates) != len(three) {
			t.Fatalf("%T: %d acked states for %d deliveries", w, len(obs.AckedStates), len(three))
		}
		for k := 1; k <= len(three); k++ {
			prefix, err := trial.Run(ctx, target(t), w, harness.CleanScenario(three[:k]))
			if err != nil {
				t.Fatal(err)
			}
			prefix.Sandbox.Drop(ctx)
			if d := diff(t, prefix.Final, obs.AckedStates[k-1]); !d.Equal {
				t.Errorf("%T: the state after batch %d differs from a clean run of the first %d batches:\n%s", w, k, k, d)
			}
			if k > 1 && diff(t, obs.AckedStates[k-2], obs.AckedStates[k-1]).Equal {
				t.Errorf("%T: batch %d changed nothing; the test needs batches that do", w, k)
			}
		}
	}
}

// ownConn is Upsert writing through a connection of its own, as an
// external command does.
type ownConn struct {
	reference.Upsert
	gotConn *bool
}

func (ownConn) ConnectsItself() {}

func (w ownConn) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	if env.Conn != nil {
		*w.gotConn = true
	}
	conn, err := env.Connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return w.Upsert.Write(ctx, &harness.Env{Conn: conn}, b)
}

// A writer that ConnectsItself gets no connection it would not use: its
// own is the attempt's first, faults land in it, and the result is the
// one Env.Conn gives.
func TestWriterThatConnectsItselfGetsNoConn(t *testing.T) {
	gotConn := false
	w := ownConn{gotConn: &gotConn}
	want := clean(t, reference.Upsert{})
	obs := run(t, w, del(0, wire("crash-after at commit 1")), del(1))
	if gotConn {
		t.Error("the writer that connects itself got env.Conn")
	}
	if d := diff(t, want.Final, obs.Final); !d.Equal {
		t.Errorf("through its own connections:\n%s", d)
	}
	if obs.Faults[faults.CrashAfter] != 1 {
		t.Errorf("faults fired: %v", obs.Faults)
	}
	for _, st := range obs.Steps {
		for _, e := range st.Events {
			if e.Conn != 1 {
				t.Fatalf("attempt %d of batch %s: an event on connection %d, want only connection 1: %v", st.Attempt, st.Batch, e.Conn, e)
			}
		}
	}
}
