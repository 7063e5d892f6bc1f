package properties_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/idemcheck/idemcheck/properties"
	"github.com/idemcheck/idemcheck/reference"
	"github.com/jackc/pgx/v5"
)

// BenchmarkRetryEquivalence measures trials per second of RetryEquivalence
// on the reference Upsert (scenarios of at most 4 batches of 8 records),
// with reused schema sandboxes (the default), with a new schema and Setup
// per run (FreshSandboxes) and with a database per trial cloned from a
// template (the snapshot/restore style), in the same run, and reports
// trials/s, x-fresh-sandboxes and x-db-per-trial (how many times faster
// the default is), and, against the ceiling (see upsertCeiling),
// x-db-per-trial-ceiling and of-ceiling.
func BenchmarkRetryEquivalence(b *testing.B) {
	law := properties.Laws(harness.RetryEquivalence)
	run := func(n int, opts ...properties.Option) float64 {
		return upsertTrialsPerSecond(b, n, append(opts, law)...)
	}
	var schema, fresh, db, ceiling float64
	for b.Loop() {
		schema = run(200)
		fresh = run(200, properties.FreshSandboxes())
		db = run(20, properties.Sandboxes(trial.Mode(trial.DatabaseSandbox)))
		ceiling = upsertCeiling(b, 200, law)
	}
	b.ReportMetric(schema, "trials/s")
	b.ReportMetric(db, "db-per-trial-trials/s")
	b.ReportMetric(schema/db, "x-db-per-trial")
	b.ReportMetric(schema/fresh, "x-fresh-sandboxes")
	b.ReportMetric(ceiling/db, "x-db-per-trial-ceiling")
	b.ReportMetric(schema/ceiling, "of-ceiling")
}

// BenchmarkExhaustive measures exhaustive mode on the reference Upsert
// (RetryEquivalence: every single crash point of the smoke batches and two
// drawn batch lists, 16 double faults per delivery) and reports points/s,
// the points and distinct states explored, and, measured in the same run,
// the random mode's trials/s at 100 checks (a random trial delivers up to
// four batches with one or two faults each, an exhaustive point one fault).
func BenchmarkExhaustive(b *testing.B) {
	var ex *properties.Explored
	var pointsPerSec, randomPerSec float64
	for b.Loop() {
		start := time.Now()
		rep, err := properties.Check(context.Background(), func() harness.Writer[harness.Order] { return reference.Upsert{} },
			properties.OnTarget(target), properties.Laws(harness.RetryEquivalence), properties.Exhaustive(properties.DefaultBounds))
		if err != nil {
			b.Fatal(err)
		}
		ex = rep.Laws[2].Explored
		pointsPerSec = float64(rep.Laws[2].Trials) / time.Since(start).Seconds()
		start = time.Now()
		rep, err = properties.Check(context.Background(), func() harness.Writer[harness.Order] { return reference.Upsert{} },
			properties.OnTarget(target), properties.Laws(harness.RetryEquivalence), properties.Checks(100))
		if err != nil {
			b.Fatal(err)
		}
		randomPerSec = float64(rep.Laws[2].Trials) / time.Since(start).Seconds()
	}
	b.ReportMetric(pointsPerSec, "points/s")
	b.ReportMetric(float64(ex.Points), "points")
	b.ReportMetric(float64(ex.States), "states")
	b.ReportMetric(randomPerSec, "random-trials/s")
}

// BenchmarkCertify measures a whole certification of the reference Upsert
// (every law it claims, 100 checks, seed 1): search trials per second over
// all laws at the default parallelism and, in the same run, with
// Parallel(1), with FreshSandboxes and with a database per trial (10
// checks); it reports trials/s, x-parallel-1 (how many times faster than
// one trial at a time), x-fresh-sandboxes (than a new sandbox and Setup
// per run) and x-db-per-trial. It also measures the ceiling (see
// upsertCeiling): x-db-per-trial-ceiling is the highest x-db-per-trial
// a harness that makes the same Write calls could report in this run,
// and of-ceiling the fraction of the ceiling's trials/s the default
// reaches.
func BenchmarkCertify(b *testing.B) {
	var def, one, fresh, db, ceiling float64
	for b.Loop() {
		def = upsertTrialsPerSecond(b, 100)
		one = upsertTrialsPerSecond(b, 100, properties.Parallel(1))
		fresh = upsertTrialsPerSecond(b, 100, properties.FreshSandboxes())
		db = upsertTrialsPerSecond(b, 10, properties.Sandboxes(trial.Mode(trial.DatabaseSandbox)))
		ceiling = upsertCeiling(b, 100)
	}
	b.ReportMetric(def, "trials/s")
	b.ReportMetric(one, "parallel-1-trials/s")
	b.ReportMetric(def/one, "x-parallel-1")
	b.ReportMetric(def/fresh, "x-fresh-sandboxes")
	b.ReportMetric(def/db, "x-db-per-trial")
	b.ReportMetric(ceiling/db, "x-db-per-trial-ceiling")
	b.ReportMetric(def/ceiling, "of-ceiling")
}

// BenchmarkCeilingLadder says where the default's distance to the
// ceiling goes: it replays one certification's Write calls (the
// reference Upsert, every law, 100 checks, seed 1) bare, with a session
// per attempt, with a restore per run and with both (see replayCost), and
// measures the default in the same run. It reports each one's trials/s,
// x-session-per-attempt and x-restore (how many times slower the bare
// replay gets with each), and of-both (the fraction of the replay with
// both that the default reaches: the rest of the harness's cost).
func BenchmarkCeilingLadder(b *testing.B) {
	rec := recordUpsert(b, 100)
	var def, bare, sessions, restores, both float64
	for b.Loop() {
		def = upsertTrialsPerSecond(b, 100)
		bare = rec.replay(b, replayCost{})
		sessions = rec.replay(b, replayCost{sessionPerAttempt: true})
		restores = rec.replay(b, replayCost{restore: true})
		both = rec.replay(b, replayCost{sessionPerAttempt: true, restore: true})
	}
	b.ReportMetric(def, "trials/s")
	b.ReportMetric(bare, "bare-trials/s")
	b.ReportMetric(sessions, "sessions-trials/s")
	b.ReportMetric(restores, "restores-trials/s")
	b.ReportMetric(both, "both-trials/s")
	b.ReportMetric(bare/sessions, "x-session-per-attempt")
	b.ReportMetric(bare/restores, "x-restore")
	b.ReportMetric(def/both, "of-both")
}

// upsertTrialsPerSecond checks the reference Upsert (seed 1, checks per
// law, opts) and returns the search trials of every law run, per second,
// logging the phases.
func upsertTrialsPerSecond(b testing.TB, checks int, opts ...properties.Option) float64 {
	b.Helper()
	start := time.Now()
	rep, trials := checkSeed1(b, func() harness.Writer[harness.Order] { return reference.Upsert{} }, checks, opts...)
	took := time.Since(start)
	b.Logf("%d trials in %s; %s", trials, took.Round(time.Millisecond), rep.Phases)
	return float64(trials) / took.Seconds()
}

// checkSeed1 checks newWriter's writers (seed 1, checks per law, opts)
// and returns the report and the search trials of every law run.
func checkSeed1(b testing.TB, newWriter func() harness.Writer[harness.Order], checks int, opts ...properties.Option) (*properties.Report, int) {
	b.Helper()
	rep, err := properties.Check(context.Background(), newWriter,
		append(opts, properties.OnTarget(target), properties.Checks(checks), properties.Seed(1))...)
	if err != nil {
		b.Fatal(err)
	}
	trials := 0
	for _, l := range rep.Laws {
		trials += l.Trials
	}
	return rep, trials
}

// upsertCeiling bounds the search trials per second of a certification
// of the reference Upsert (seed 1, checks per law, opts) on this machine
// and server, for any harness that makes the same Write calls: it
// replays them with nothing of the harness around them (see replay).
func upsertCeiling(b *testing.B, checks int, opts ...properties.Option) float64 {
	b.Helper()
	return recordUpsert(b, checks, opts...).replay(b, replayCost{})
}

// recording is what a certification's writers were asked to write.
type recording struct {
	mu     sync.Mutex                     // guards writes while the certification runs
	writes []harness.Batch[harness.Order] // every Write call's batch
	runs   int                            // the runs they were made in
	trials int                            // the certification's search trials
}

// recordUpsert certifies the reference Upsert (seed 1, checks per law,
// opts), keeping every Write call's batch.
func recordUpsert(b *testing.B, checks int, opts ...properties.Option) *recording {
	b.Helper()
	r := &recording{}
	rep, trials := checkSeed1(b, func() harness.Writer[harness.Order] { return recordingUpsert{rec: r} }, checks, opts...)
	r.runs, r.trials = max(1, rep.Phases.Runs), trials
	return r
}

// replayCost is what a replay adds, of what the harness does, to the
// writer's own statements and one snapshot per run.
type replayCost struct {
	// sessionPerAttempt makes each Write call an attempt through the
	// fault proxy (no fault planned) on a connection of its own, as in
	// a run: a pooled backend, reset (DISCARD ALL) afterwards, and the
	// writer's statements parsed and planned anew.
	sessionPerAttempt bool
	// restore follows each run's DELETE with most of what a sandbox's
	// restore adds to it: a VACUUM (ANALYZE) and a read of the table's
	// size (not the catalog check and the sequences).
	restore bool
}

// replay plays r's Write calls of the reference Upsert again, with cost's
// parts of the harness and no other (no faults, crash snapshots,
// comparisons or searching): split into r's runs, each run's share of the
// calls in order, in sandboxes made and set up once, four times as many
// at once as the default parallelism (more gained nothing here), on warm
// direct connections but where cost says otherwise, each run followed by
// one Snapshot (what judging a run needs at least) and a DELETE of what
// it found. It returns r's search trials per second of the replay.
func (r *recording) replay(b *testing.B, cost replayCost) float64 {
	b.Helper()
	ctx := context.Background()
	var next atomic.Int64 // the next run to replay: its share of the writes is [i*len/runs, (i+1)*len/runs)
	worker := func() error {
		sb, err := target.NewSandbox(ctx)
		if err != nil {
			return err
		}
		defer sb.Drop(context.Background())
		conn, err := pgx.ConnectConfig(ctx, sb.ConnConfig())
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		var w reference.Upsert
		if err := w.Setup(ctx, &harness.Env{Conn: conn, Sandbox: sb.Name()}); err != nil {
			return err
		}
		write := func(batch harness.Batch[harness.Order]) error {
			env := &harness.Env{Conn: conn, Attempt: 1, Now: batch.LogicalTime, Sandbox: sb.Name()}
			if !cost.sessionPerAttempt {
				return w.Write(ctx, env, batch)
			}
			att := target.Proxy().NewAttempt(nil)
			defer att.Close()
			cfg := sb.ConnConfig()
			cfg.DialFunc = att.DialContext
			attemptConn, err := pgx.ConnectConfig(ctx, cfg)
			if err != nil {
				return err
			}
			defer attemptConn.Close(context.Background())
			env.Conn = attemptConn
			return w.Write(ctx, env, batch)
		}
		for {
			i := int(next.Add(1)) - 1
			if i >= r.runs {
				return nil
			}
			for _, batch := range r.writes[i*len(r.writes)/r.runs : (i+1)*len(r.writes)/r.runs] {
				if err := write(batch); err != nil {
					return err
				}
			}
			st, err := trial.Snapshot(ctx, sb)
			if err != nil {
				return err
			}
			for _, t := range st.TableNames() {
				table := pgx.Identifier(strings.Split(t, ".")).Sanitize()
				if _, err := conn.Exec(ctx, "DELETE FROM "+table); err != nil {
					return err
				}
				if !cost.restore {
					continue
				}
				if _, err := conn.Exec(ctx, "VACUUM (ANALYZE) "+table); err != nil {
					return err
				}
				var size int64 // read for its cost, as the restore's check reads it
				if err := conn.QueryRow(ctx, "SELECT pg_relation_size($1::regclass)", table).Scan(&size); err != nil {
					return err
				}
			}
		}
	}
	workers := 4 * properties.DefaultParallel(ctx, target)
	start := time.Now()
	errs := make(chan error, workers)
	for range workers {
		go func() { errs <- worker() }()
	}
	var err error
	for range workers {
		if e := <-errs; e != nil && err == nil {
			err = e
		}
	}
	if err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	b.Logf("replay %+v: %d write calls of %d runs in %s by %d workers", cost, len(r.writes), r.runs, took.Round(time.Millisecond), workers)
	return float64(r.trials) / took.Seconds()
}

// recordingUpsert is the reference Upsert with every Write call's batch
// kept in its recording.
type recordingUpsert struct {
	reference.Upsert
	rec *recording
}

func (w recordingUpsert) Write(ctx context.Context, env *harness.Env, batch harness.Batch[harness.Order]) error {
	w.rec.mu.Lock()
	w.rec.writes = append(w.rec.writes, batch)
	w.rec.mu.Unlock()
	return w.Upsert.Write(ctx, env, batch)
}
