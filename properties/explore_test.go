package properties_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/properties"
	"github.com/idemcheck/idemcheck/reference"
	"github.com/idemcheck/idemcheck/reference/antipatterns"
	"github.com/idemcheck/idemcheck/strategies"
	"github.com/jackc/pgx/v5"
)

// seeds is how many rapid seeds the seed-sweeping tests run:
// IDEMCHECK_SEEDS, default 3 (so that go test ./... stays within
// minutes; the closing notes give the figures of IDEMCHECK_SEEDS=10).
func seeds() int {
	if n, err := strconv.Atoi(os.Getenv("IDEMCHECK_SEEDS")); err == nil && n > 0 {
		return n
	}
	return 3
}

// forEachSeed runs fn with the seeds 1..seeds() in turn, each as an
// option for Check.
func forEachSeed(t *testing.T, fn func(t *testing.T, seed properties.Option)) {
	for seed := 1; seed <= seeds(); seed++ {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) { fn(t, properties.Seed(uint64(seed))) })
	}
}

// lateLoader is a writer whose dangerous step comes late: ten harmless
// rounds (settings, a staging table loaded from JSON, an index, ANALYZE,
// counts), then the batch's days replaced by a DELETE and an INSERT, at
// rounds 11 and 12; each commits on its own unless InTx wraps them in one
// transaction (then it is correct).
type lateLoader struct{ InTx bool }

func (lateLoader) Setup(ctx context.Context, env *harness.Env) error {
	_, err := env.Conn.Exec(ctx, `CREATE TABLE orders_by_day (source text, id bigint, version bigint, event_date date, customer text, amount numeric)`)
	return err
}

func (w lateLoader) Claims() []harness.Law {
	return []harness.Law{harness.ReplayIdempotence, harness.RetryEquivalence, harness.CrashAtomicity, harness.ExactlyOnceEffect}
}

func (w lateLoader) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	recs, err := json.Marshal(b.Records)
	if err != nil {
		return err
	}
	steps := []struct {
		sql  string
		args []any
	}{
		{"SET statement_timeout = 0", nil},
		{"SET lock_timeout = 0", nil},
		{"SET application_name = 'late_loader'", nil},
		{"CREATE TEMP TABLE staging (LIKE orders_by_day)", nil},
		{"INSERT INTO staging SELECT * FROM json_populate_recordset(NULL::staging, $1::json)", []any{string(recs)}},
		{"CREATE INDEX ON staging (event_date)", nil},
		{"ANALYZE staging", nil},
		{"SELECT count(*) FROM staging", nil},
		{"SELECT min(event_date), max(event_date) FROM staging", nil},
		{"SELECT 1", nil},
	}
	if w.InTx {
		steps = append(steps, struct {
			sql  string
			args []any
		}{"BEGIN", nil})
	}
	steps = append(steps, []struct {
		sql  string
		args []any
	}{
		{"DELETE FROM orders_by_day WHERE event_date IN (SELECT event_date FROM staging)", nil},
		{"INSERT INTO orders_by_day SELECT * FROM staging", nil},
	}...)
	if w.InTx {
		steps = append(steps, struct {
			sql  string
			args []any
		}{"COMMIT", nil})
	}
	for _, s := range steps {
		if _, err := env.Conn.Exec(ctx, s.sql, s.args...); err != nil {
			return fmt.Errorf("%s: %w", s.sql, err)
		}
	}
	return nil
}

// perRecordTotals commits every record on its own (a version-guarded
// upsert, safe to repeat), then adds the batch's size to a running total
// in a last commit: only a crash after that last commit, 9 commits in for
// a batch of 8, double-counts on retry.
type perRecordTotals struct{}

func (perRecordTotals) Setup(ctx context.Context, env *harness.Env) error {
	_, err := env.Conn.Exec(ctx, `CREATE TABLE orders (source text, id bigint PRIMARY KEY, version bigint, event_date date, customer text, amount numeric);
		CREATE TABLE totals (k int PRIMARY KEY, records bigint NOT NULL); INSERT INTO totals VALUES (1, 0)`)
	return err
}

func (perRecordTotals) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	if err := (perRecordUpsert{}).Write(ctx, env, b); err != nil {
		return err
	}
	_, err := env.Conn.Exec(ctx, `UPDATE totals SET records = records + $1 WHERE k = 1`, len(b.Records))
	return err
}

// lateCase is a broken writer whose dangerous step comes late, and the
// laws that must catch it.
type lateCase struct {
	name      string
	writer    func() W
	laws      []harness.Law
	partition bool
}

var lateCases = []lateCase{
	{"LateDeleteInsert", func() W { return lateLoader{} }, []harness.Law{harness.CrashAtomicity}, true},
	{"PerRecordTotals", func() W { return perRecordTotals{} }, []harness.Law{harness.RetryEquivalence, harness.ExactlyOnceEffect}, false},
}

func lateOpts(law harness.Law, extra ...properties.Option) []properties.Option {
	return append([]properties.Option{properties.OnTarget(target), properties.ScenarioDir(os.TempDir()), properties.Claim(law)}, extra...)
}

// mustViolate checks law alone and fails unless it is violated.
func mustViolate(t *testing.T, w func() W, recs properties.Records[harness.Order], law harness.Law, opts ...properties.Option) properties.LawReport {
	t.Helper()
	rep, err := properties.CheckRecords(context.Background(), w, recs, opts...)
	if err == nil {
		t.Fatalf("%s held: the broken writer was not caught", law)
	}
	lr := rep.Laws[indexOf(law)]
	if lr.Verdict != properties.Violated {
		t.Fatalf("%s: %s (%s)", law, lr.Verdict, lr.Reason)
	}
	return lr
}

// A writer whose dangerous step comes at its 10th round or later is
// caught at 3 random trials and at the default budget for every seed (the
// smoke scenarios crash after its last commit and between its last two),
// and always in exhaustive mode.
func TestLateStepWritersAreCaught(t *testing.T) {
	for _, c := range lateCases {
		for _, law := range c.laws {
			t.Run(c.name+"/"+string(law), func(t *testing.T) {
				forEachSeed(t, func(t *testing.T, seed properties.Option) {
					lr := mustViolate(t, c.writer, orders(c.partition), law, lateOpts(law, properties.Checks(3), seed)...)
					t.Logf("caught at trial %d: %s", lr.FirstFailure, lr.Counterexample.Summary)
					lr = mustViolate(t, c.writer, orders(c.partition), law, lateOpts(law, seed)...) // the default budget
					t.Logf("at the default budget, caught at trial %d", lr.FirstFailure)
				})
				t.Run("exhaustive", func(t *testing.T) {
					lr := mustViolate(t, c.writer, orders(c.partition), law, lateOpts(law, properties.Exhaustive(properties.Bounds{}))...)
					t.Logf("caught at point %d: %s", lr.FirstFailure, lr.Counterexample.Summary)
				})
			})
		}
	}
}

// A correct writer with a long conversation holds in random mode and at
// every crash point of exhaustive mode, which names what it explored.
func TestLongCorrectWriterHolds(t *testing.T) {
	w := func() W { return lateLoader{InTx: true} }
	base := []properties.Option{properties.OnTarget(target), properties.ScenarioDir(os.TempDir())}
	rep, err := properties.CheckRecords(context.Background(), w, orders(true), append(base, properties.Laws(harness.CrashAtomicity, harness.RetryEquivalence),
		properties.Checks(10), properties.MinCoverage(0))...)
	if err != nil {
		t.Fatalf("random mode: %v", err)
	}
	for _, l := range rep.Laws {
		if l.Verdict != properties.NotClaimed {
			t.Logf("%s: %s after %d trials, coverage %s", l.Law, l.Verdict, l.Trials, l.CoverageSummary())
		}
	}
	rep, err = properties.CheckRecords(context.Background(), w, orders(true), append(base, properties.Laws(harness.CrashAtomicity, harness.ExactlyOnceEffect),
		properties.Exhaustive(properties.Bounds{DoubleFaults: 2}))...)
	if err != nil {
		t.Fatalf("exhaustive mode: %v", err)
	}
	for _, law := range []harness.Law{harness.CrashAtomicity, harness.ExactlyOnceEffect} {
		l := rep.Laws[indexOf(law)]
		ex := l.Explored
		if ex == nil || ex.Scenarios != 1 || ex.Points == 0 || ex.States == 0 {
			t.Fatalf("%s: explored %+v", law, ex)
		}
		t.Logf("%s held at every point: %s", law, ex)
	}
	// One point per class of the 15-round conversation, per delivery (two
	// of them): 8 classes of crash points (before the first step, after
	// each of its 7 steps) and the 2 errors a writer may handle at each of
	// its 15 rounds; every other point collapsed.
	if ex := rep.Laws[indexOf(harness.CrashAtomicity)].Explored; ex.Points < 2*(8+2*15) || ex.Collapsed == 0 {
		t.Errorf("CrashAtomicity explored %d points, %d collapsed", ex.Points, ex.Collapsed)
	}
}

// Coverage names the classes of crash points never crashed; below
// MinCoverage a correct writer's law is inconclusive, not held. The long
// writer's conversation has 8 classes (before its first step, after
// each of its 7 steps); without the smoke scenarios, one random trial of
// one batch crashes its two failing attempts in at most 2 of them,
// whatever the seed.
func TestCoverageBelowTheMinimumIsInconclusive(t *testing.T) {
	rep, err := properties.CheckRecords(context.Background(), func() W { return lateLoader{InTx: true} }, orders(true), properties.OnTarget(target),
		properties.ScenarioDir(os.TempDir()), properties.Laws(harness.RetryEquivalence), properties.WithoutSmoke(),
		properties.Limits(strategies.Limits{MaxBatches: 1}), properties.Checks(1), properties.MinCoverage(1))
	if err == nil {
		t.Fatal("one random trial covered every crash point")
	}
	lr := rep.Laws[indexOf(harness.RetryEquivalence)]
	cv := lr.Coverage
	if lr.Verdict != properties.Inconclusive || cv == nil || cv.Crashed >= cv.Points || len(cv.Uncovered) != cv.Points-cv.Crashed {
		t.Fatalf("%s (%s), coverage %+v", lr.Verdict, lr.Reason, cv)
	}
	if !strings.Contains(lr.Reason, "never crashed: "+cv.Uncovered[0]) {
		t.Errorf("the reason does not name the uncovered points: %s", lr.Reason)
	}
}

// Two Check calls with different settings may run at once (go test -race
// runs this in CI): each keeps its own checks and seed, and reports its
// own trial count, the law's smoke scenarios and then its random trials.
func TestConcurrentChecksKeepTheirSettings(t *testing.T) {
	type result struct {
		trials int
		err    error
	}
	run := func(checks int, seed uint64, out chan<- result) {
		rep, err := properties.Check(context.Background(), func() W { return reference.Upsert{} }, properties.OnTarget(target),
			properties.ScenarioDir(os.TempDir()), properties.Laws(harness.RetryEquivalence), properties.Checks(checks), properties.Seed(seed),
			properties.MinCoverage(0))
		if err != nil {
			out <- result{0, err}
			return
		}
		out <- result{rep.Laws[indexOf(harness.RetryEquivalence)].Trials, nil}
	}
	a, b := make(chan result, 1), make(chan result, 1)
	go run(7, 1, a)
	go run(13, 2, b)
	smoke := properties.SmokeTrials(harness.RetryEquivalence)
	for _, c := range []struct {
		ch   chan result
		want int
	}{{a, smoke + 7}, {b, smoke + 13}} {
		r := <-c.ch
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.trials != c.want {
			t.Errorf("%d trials, want %d", r.trials, c.want)
		}
	}
}

// The fix of every lesson rendered from a public bug report holds each
// law that catches the broken writer (the seed's lessons' fixes are the
// reference writers, which TestReferenceWritersHold certifies).
func TestIncidentFixesHold(t *testing.T) {
	for _, l := range antipatterns.Catalog() {
		if l.Source == "" {
			continue
		}
		t.Run(l.Name, func(t *testing.T) {
			fixed := l.Fixed
			o := []properties.Option{properties.OnTarget(target), properties.ScenarioDir(os.TempDir()), properties.Claim(l.Violates...), properties.Checks(30)}
			rep, err := properties.CheckRecords(context.Background(), func() W { return fixed }, orders(l.WholePartitions), o...)
			if err != nil {
				t.Fatalf("the fix %s does not hold: %v", l.Fix, err)
			}
			for _, law := range l.Violates {
				if lr := rep.Laws[indexOf(law)]; lr.Verdict != properties.Held {
					t.Errorf("%s: %s (%s)", law, lr.Verdict, lr.Reason)
				}
			}
		})
	}
}

// Determinism first: once two clean runs differ, every other verdict
// would be noise, so the other laws are not run, and the report names the
// columns and the option that would leave them out. FailFast stops at any
// first violation; without it the laws after one are still checked.
func TestCheckStopsWhereTheVerdictIsSettled(t *testing.T) {
	all := []properties.Option{properties.OnTarget(target), properties.ScenarioDir(os.TempDir()), properties.Claim(harness.AllLaws...),
		properties.Checks(5), properties.MinCoverage(0)}
	rep, err := properties.Check(context.Background(), func() W { return antipatterns.NonDeterministicTransform{} }, all...)
	if err == nil {
		t.Fatal("a nondeterministic writer was certified")
	}
	if l := rep.Laws[indexOf(harness.Determinism)]; l.Verdict != properties.Violated {
		t.Fatalf("Determinism: %s (%s)", l.Verdict, l.Reason)
	}
	for _, l := range rep.Laws[1:] {
		if l.Verdict != properties.NotRun || !strings.Contains(l.Reason, "nondeterministic") || !strings.Contains(l.Reason, "--ignore-column orders.loaded_at") {
			t.Errorf("%s: %s (%s)", l.Law, l.Verdict, l.Reason)
		}
	}

	naive := func() W { return antipatterns.NaiveInsert{} }
	rep, _ = properties.Check(context.Background(), naive, append(all, properties.FailFast())...)
	if l := rep.Laws[indexOf(harness.ReplayIdempotence)]; l.Verdict != properties.Violated {
		t.Fatalf("ReplayIdempotence: %s", l.Verdict)
	}
	for _, l := range rep.Laws[indexOf(harness.ReplayIdempotence)+1:] {
		if l.Verdict != properties.NotRun || !strings.Contains(l.Reason, "fail-fast") {
			t.Errorf("%s after fail-fast: %s (%s)", l.Law, l.Verdict, l.Reason)
		}
	}
	rep, _ = properties.Check(context.Background(), naive, append(all, properties.Laws(harness.ReplayIdempotence, harness.RetryEquivalence))...)
	if l := rep.Laws[indexOf(harness.RetryEquivalence)]; l.Verdict != properties.Violated {
		t.Errorf("without fail-fast, RetryEquivalence after a violation: %s (%s)", l.Verdict, l.Reason)
	}
}

// TestFaultlessTrialsAreNotRun checks that a random trial whose draw
// injected nothing (each batch delivered once, in order, no fault) is
// judged by its batches' clean run instead of a run of its own: the same
// verdicts, trials and coverage, fewer runs. Seed 11 is pinned because it
// draws such trials for the three laws whose draws can (for one batch,
// OrderIndependence's only order is the batch's own).
func TestFaultlessTrialsAreNotRun(t *testing.T) {
	o := []properties.Option{properties.OnTarget(target), properties.ScenarioDir(t.TempDir()), properties.Checks(20), properties.Seed(11),
		properties.Laws(harness.ReplayIdempotence, harness.ExactlyOnceEffect, harness.OrderIndependence)}
	w := func() W { return reference.Upsert{} }
	skipped, _ := properties.Check(context.Background(), w, o...)
	run, _ := properties.Check(context.Background(), w, append(o, properties.UnsharedRuns())...)
	t.Logf("faultless trials skipped: %s; run: %s", skipped.Phases, run.Phases)
	if skipped.Phases.Runs >= run.Phases.Runs {
		t.Errorf("faultless trials skipped: %d runs; run: %d", skipped.Phases.Runs, run.Phases.Runs)
	}
	sameVerdicts(t, "skipped", skipped, "run", run)
}

// seededSetup is Upsert with a Setup that leaves a row behind, which a
// restore cannot bring back: its runs are never reused.
type seededSetup struct{ reference.Upsert }

func (w seededSetup) Setup(ctx context.Context, env *harness.Env) error {
	if err := w.Upsert.Setup(ctx, env); err != nil {
		return err
	}
	_, err := env.Conn.Exec(ctx, "CREATE TABLE settings (name text PRIMARY KEY, value text); INSERT INTO settings VALUES ('mode', 'upsert')")
	return err
}

// TestEveryCounterexampleKeepsItsSandbox checks that when several laws are
// violated at once, each counterexample's sandbox is still there when the
// check ends (each law keeps its own minimal one), with the faulty state.
func TestEveryCounterexampleKeepsItsSandbox(t *testing.T) {
	rep, _ := properties.Check(context.Background(), func() W { return antipatterns.NaiveInsert{} }, properties.OnTarget(target),
		properties.ScenarioDir(t.TempDir()), properties.Claim(harness.AllLaws...), properties.Checks(15), properties.Seed(11))
	ctx := context.Background()
	seen := map[string]harness.Law{}
	for _, lr := range rep.Laws {
		if lr.Verdict != properties.Violated {
			continue
		}
		ce := lr.Counterexample
		fields := strings.Fields(ce.Sandbox)
		if len(fields) < 2 || fields[0] != "schema" {
			t.Errorf("%s: the counterexample names no schema sandbox: %q", lr.Law, ce.Sandbox)
			continue
		}
		name := fields[1]
		t.Cleanup(func() { target.Admin().Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE") })
		if other, ok := seen[name]; ok {
			t.Errorf("%s and %s name the same sandbox %s", other, lr.Law, name)
		}
		seen[name] = lr.Law
		var rows int
		if err := target.Admin().QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{name, "orders_log"}.Sanitize()).Scan(&rows); err != nil {
			t.Errorf("%s: its sandbox %s: %v", lr.Law, name, err)
		} else if rows == 0 {
			t.Errorf("%s: its sandbox %s holds no rows", lr.Law, name)
		}
	}
	if len(seen) < 3 {
		t.Fatalf("%d laws violated, want at least 3 for this test to mean something", len(seen))
	}
}

// perRecordUpsert commits every record on its own: a version-guarded
// upsert in autocommit, safe to repeat, to reorder and to overlap, but a
// crash leaves part of a batch (CrashAtomicity is not claimed unless
// Atomic says so).
type perRecordUpsert struct{ Atomic bool }

func (perRecordUpsert) Setup(ctx context.Context, env *harness.Env) error {
	_, err := env.Conn.Exec(ctx, `CREATE TABLE orders (source text, id bigint PRIMARY KEY, version bigint, event_date date, customer text, amount numeric)`)
	return err
}

func (w perRecordUpsert) Claims() []harness.Law {
	if w.Atomic {
		return harness.AllLaws
	}
	return slices.DeleteFunc(slices.Clone(harness.AllLaws), func(l harness.Law) bool { return l == harness.CrashAtomicity })
}

func (perRecordUpsert) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	for _, o := range b.Records {
		if _, err := env.Conn.Exec(ctx, `INSERT INTO orders VALUES ($1, $2, $3, $4, $5, $6::numeric)
			ON CONFLICT (id) DO UPDATE SET source = EXCLUDED.source, version = EXCLUDED.version, event_date = EXCLUDED.event_date,
			customer = EXCLUDED.customer, amount = EXCLUDED.amount WHERE orders.version < EXCLUDED.version`,
			o.Source, o.ID, o.Version, o.EventDate.Time, o.Customer, o.Amount); err != nil {
			return err
		}
	}
	return nil
}

// A writer that commits per record has as many crash points as records,
// but its classes do not grow with the batch (a loop folds into its
// first, a middle and its last iteration): at 100 checks every law it
// claims holds, none inconclusive, for every seed; claiming
// CrashAtomicity too, it is violated there.
func TestPerRecordCommitsAreCovered(t *testing.T) {
	forEachSeed(t, func(t *testing.T, seed properties.Option) {
		rep, err := properties.Check(context.Background(), func() W { return perRecordUpsert{} },
			properties.OnTarget(target), properties.ScenarioDir(os.TempDir()), properties.Checks(100), seed)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range rep.Laws {
			if l.Verdict != properties.NotClaimed {
				t.Logf("%s: %s after %d trials, %s", l.Law, l.Verdict, l.Trials, orNone(l.CoverageSummary()))
			}
		}
		lr := mustViolate(t, func() W { return perRecordUpsert{Atomic: true} }, properties.Orders(), harness.CrashAtomicity,
			properties.OnTarget(target), properties.ScenarioDir(os.TempDir()), properties.Laws(harness.CrashAtomicity), properties.Checks(100), seed)
		t.Logf("CrashAtomicity: caught at trial %d: %s", lr.FirstFailure, lr.Counterexample.Summary)
	})
}

func orNone(s string) string {
	if s == "" {
		return "no crash points"
	}
	return s
}
