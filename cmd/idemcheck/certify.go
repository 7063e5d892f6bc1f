package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/idemcheck/idemcheck/internal/certificate"
	"github.com/idemcheck/idemcheck/internal/external"
	"github.com/idemcheck/idemcheck/internal/recordspec"
	"github.com/idemcheck/idemcheck/properties"
	"github.com/idemcheck/idemcheck/reference"
	"github.com/idemcheck/idemcheck/reference/antipatterns"
	"github.com/idemcheck/idemcheck/strategies"
)

// writerFlags say which external writer to certify.
type writerFlags struct {
	Exec     string        `help:"Command run per delivery attempt (sh -c); the batch arrives as JSON lines on stdin and in $IDEMCHECK_BATCH_FILE." placeholder:"CMD"`
	SQL      string        `name:"sql" help:"SQL file run statement by statement per attempt, against the batch in the temporary table batch." placeholder:"FILE" type:"existingfile"`
	Setup    string        `help:"Command that creates the writer's tables, once per sandbox (after --setup-sql, when both are given); with --exec or --sql." placeholder:"CMD"`
	SetupSQL string        `name:"setup-sql" help:"SQL file that creates the writer's tables, once per sandbox, statement by statement; with --exec or --sql." placeholder:"FILE" type:"existingfile"`
	Timeout  time.Duration `help:"Kill an attempt that runs longer than this." default:"60s"`
	Records  string        `help:"Custom records instead of the default order events: a spec (name:type[:role],... with roles key, version, partition) or a file holding one, or a file of sample records (JSON lines)." placeholder:"SPEC|FILE"`
}

type writer = harness.Writer[harness.Order]

// check says what is wrong with the combination of writer flags.
func (f writerFlags) check() error {
	switch {
	case f.Exec != "" && f.SQL != "":
		return usageError{"give either --exec or --sql, not both"}
	case f.Exec == "" && f.SQL == "":
		return usageError{"say which writer to certify: --exec 'CMD' (any language), --sql FILE, or --consumer 'CMD' for a long-running Kafka consumer"}
	}
	return nil
}

// build returns the writer of the default order records.
func (f writerFlags) build() (writer, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	if f.Exec != "" {
		return external.Exec[harness.Order]{Command: f.Exec, SetupSQL: f.SetupSQL, SetupCommand: f.Setup, Timeout: f.Timeout}, nil
	}
	w, err := external.LoadSQL(f.SQL, f.SetupSQL)
	if err != nil {
		return nil, usageError{fmt.Sprintf("--sql: %v", err)}
	}
	w.SetupCommand, w.Timeout = f.Setup, f.Timeout
	return w, nil
}

type recordWriter = harness.Writer[recordspec.Record]

// withWriter builds the writer the flags name and runs it: with onOrders
// for the default orders, with onRecords when --records describes others.
func (f writerFlags) withWriter(onOrders func(writer) error, onRecords func(recordWriter, *recordspec.Spec) error) error {
	spec, err := f.spec()
	if err != nil {
		return err
	}
	if spec == nil {
		w, err := f.build()
		if err != nil {
			return err
		}
		return onOrders(w)
	}
	w, err := f.buildRecords(spec)
	if err != nil {
		return err
	}
	return onRecords(w, spec)
}

// buildRecords returns the writer of custom records described by spec.
func (f writerFlags) buildRecords(spec *recordspec.Spec) (recordWriter, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	if f.Exec != "" {
		return external.Exec[recordspec.Record]{Command: f.Exec, SetupSQL: f.SetupSQL, SetupCommand: f.Setup, Timeout: f.Timeout, Records: spec.Source()}, nil
	}
	w, err := external.LoadSQLRecords(f.SQL, f.SetupSQL, spec)
	if err != nil {
		return nil, usageError{fmt.Sprintf("--sql: %v", err)}
	}
	w.SetupCommand, w.Timeout = f.Setup, f.Timeout
	return w, nil
}

// spec reads --records ("" when the default orders are certified).
func (f writerFlags) spec() (*recordspec.Spec, error) {
	if f.Records == "" {
		return nil, nil
	}
	spec, err := recordspec.Load(f.Records)
	if err != nil {
		return nil, usageError{fmt.Sprintf("--records: %v", err)}
	}
	return spec, nil
}

// nameOf is a writer's name in reports and scenario files.
func nameOf(w any) string {
	if n, ok := w.(interface{ Name() string }); ok {
		return n.Name()
	}
	return fmt.Sprintf("%T", w)
}

// compareFlags adjust the comparison of states.
type compareFlags struct {
	IgnoreColumn        []string `help:"Leave a column out of the comparison (table.column; repeatable)." placeholder:"TABLE.COL"`
	ModuloSurrogateKeys bool     `help:"Compare without sequence and identity columns (a sequence advances even on a rolled-back insert)."`
	PartitionField      string   `help:"Certify with a partition field: every batch is one whole partition. The default records have one: event_date." placeholder:"FIELD"`
}

// options returns the comparison options.
func (f compareFlags) options() []properties.Option {
	var opts []properties.Option
	if len(f.IgnoreColumn) > 0 {
		opts = append(opts, properties.Compare(trial.IgnoreColumns(f.IgnoreColumn...)))
	}
	if f.ModuloSurrogateKeys {
		opts = append(opts, properties.Compare(trial.ModuloSurrogateKeys()))
	}
	return opts
}

// orders are the default records, partitioned by --partition-field.
func (f compareFlags) orders() (properties.Records[harness.Order], error) {
	switch f.PartitionField {
	case "":
		return properties.Orders(), nil
	case "event_date":
		return properties.Orders().PartitionBy(func(o harness.Order) string { return o.EventDate.String() }), nil
	}
	return properties.Records[harness.Order]{}, usageError{fmt.Sprintf("--partition-field %q: the default records' partition field is event_date", f.PartitionField)}
}

// records are the custom records of spec, partitioned by --partition-field
// or the spec's partition field.
func (f compareFlags) records(spec *recordspec.Spec) (properties.Records[recordspec.Record], error) {
	recs := properties.Draw(spec.Generator())
	field := f.PartitionField
	if field == "" {
		field = spec.Partition()
	}
	switch {
	case field == "":
		return recs, nil
	case spec.Has(field):
		return recs.PartitionBy(recordspec.PartitionOf(field)), nil
	}
	return recs, usageError{fmt.Sprintf("--partition-field %q: the records have no such field (%s)", field, spec)}
}

type certifyCmd struct {
	writerFlags
	consumerFlags
	compareFlags
	targetFlags
	Laws       string        `help:"The laws the writer claims, comma-separated (default: all)." placeholder:"LAW,..."`
	Checks     int           `help:"Random trials per law, exactly (0: the default budget: at least 30 and until every class of the writer's crash points was crashed, at most 100)." default:"0"`
	Seed       uint64        `help:"The run's seed, to repeat a run (0: a random one, named in the output and the certificate)." placeholder:"S"`
	ShrinkTime time.Duration `help:"The most time to spend shrinking a counterexample (it stops sooner once no smaller scenario fails the same way)." default:"30s"`
	Parallel   int           `help:"Trials run at once, over all laws, each in its own sandbox (0: twice the number of CPUs, fewer if the server has few spare connections). Verdicts and counterexamples do not depend on it." default:"0" placeholder:"N"`
	Fresh      bool          `name:"fresh-sandboxes" help:"Give every run a new sandbox and its own setup, instead of reusing the sandboxes earlier runs are done with (emptied and checked to be as the setup left them). Slower; verdicts do not depend on it."`
	outputs
	Shard          string  `help:"Run part I of N of the certification (e.g. 2/4): that share of every law's trials (with --exhaustive, of its points), for a CI matrix; give every part the same --seed and --checks, and merge their --json with idemcheck merge." placeholder:"I/N"`
	ScenarioDir    string  `help:"Where counterexample scenario files go." default:"idemcheck-scenarios"`
	Replay         string  `help:"Re-run this saved counterexample instead of certifying." placeholder:"FILE" type:"existingfile"`
	FailFast       bool    `name:"fail-fast" help:"Stop at the first violated law; the laws after it are not run. (A writer whose clean runs differ always stops the run there.)"`
	MinCoverage    float64 `help:"The least fraction of the writer's crash points a passing fault law must have crashed; below it the law is inconclusive and the points never crashed are named (0 turns it off)." default:"0.5" placeholder:"F"`
	Exhaustive     bool    `help:"Instead of random trials, try every single crash point of every delivery of a bounded family of scenarios (the smoke scenarios and --exhaustive-sets drawn batch lists), then double faults up to --double-faults."`
	ExhaustiveSets int     `name:"exhaustive-sets" help:"With --exhaustive: drawn batch lists explored besides the smoke scenarios'." default:"2" placeholder:"N"`
	DoubleFaults   int     `name:"double-faults" help:"With --exhaustive: double faults (a crash in the retry of a crashed attempt) tried per batch list and delivery (0: none)." default:"16" placeholder:"N"`
}

// exploration returns the options of --min-coverage and --exhaustive.
func (c certifyCmd) exploration() ([]properties.Option, error) {
	if c.MinCoverage < 0 || c.MinCoverage > 1 {
		return nil, usageError{fmt.Sprintf("--min-coverage %g: give a fraction from 0 to 1, e.g. 0.5", c.MinCoverage)}
	}
	opts := []properties.Option{properties.MinCoverage(c.MinCoverage)}
	if c.FailFast {
		opts = append(opts, properties.FailFast())
	}
	if !c.Exhaustive {
		return opts, nil
	}
	if c.ExhaustiveSets < 0 {
		return nil, usageError{fmt.Sprintf("--exhaustive-sets %d: give 0 or more batch lists", c.ExhaustiveSets)}
	}
	return append(opts, properties.Exhaustive(properties.Bounds{BatchSets: c.ExhaustiveSets, DoubleFaults: c.DoubleFaults})), nil
}

// Run certifies the writer and prints the certificate.
func (c certifyCmd) Run(e *env) error {
	if c.Consumer != "" {
		return c.certifyConsumer(e)
	}
	if c.Kafka != "" || c.NATS != "" || c.AMQP != "" {
		return usageError{"--kafka, --nats and --amqp name the source of a --consumer; give the consumer with --consumer 'CMD'"}
	}
	if c.Replay != "" {
		return replayCmd{File: c.Replay, writerFlags: c.writerFlags, compareFlags: c.compareFlags, targetFlags: c.targetFlags}.Run(e)
	}
	return c.withWriter(
		func(w writer) error {
			recs, err := c.orders()
			if err != nil {
				return err
			}
			return runCertify(e, c, w, []harness.Order{strategies.OrderOf(1, 1), strategies.OrderOf(2, 1)}, recs)
		},
		func(w recordWriter, spec *recordspec.Spec) error {
			recs, err := c.records(spec)
			if err != nil {
				return err
			}
			return runCertify(e, c, w, []recordspec.Record{spec.Example(0), spec.Example(1)}, recs)
		})
}

// runCertify runs the certification of w, whose records are R: first a
// fault-free try with the records first, then every claimed law.
func runCertify[R any](e *env, c certifyCmd, w harness.Writer[R], first []R, recs properties.Records[R]) error {
	name := nameOf(w)
	if err := checkReportPath(c.Report); err != nil {
		return err
	}
	laws, err := parseLaws(c.Laws)
	if err != nil {
		return err
	}
	opts := c.options()
	explore, err := c.exploration()
	if err != nil {
		return err
	}
	opts = append(opts, explore...)
	shard, err := c.shard()
	if err != nil {
		return err
	}
	opts = append(opts, shard...)
	if c.Seed == 0 { // draw it here, so that the certificate can name it
		c.Seed = rand.Uint64()>>1 + 1 // never 0, which is "random" to properties.Seed
	}
	tg, err := c.open(e.ctx, e.stderr)
	if err != nil {
		return err
	}
	defer tg.Close()
	fmt.Fprintf(e.stdout, "certifying %s on %s (seed %d)\n", name, tg, c.Seed)
	if err := preflight(e, tg, w, first); err != nil {
		return err
	}
	if c.Shard != "" {
		fmt.Fprintf(e.stdout, "part %s: this part's share of the trials; merge every part's --json with idemcheck merge for the certificate\n", c.Shard)
	}
	progress := newProgress(e, cmp.Or(c.Checks, properties.DefaultChecks), laws)
	opts = append(opts, properties.OnTarget(tg), properties.Claim(laws...), properties.Checks(c.Checks), properties.Seed(c.Seed),
		properties.ShrinkTime(c.ShrinkTime), properties.Parallel(c.Parallel), properties.WriterName(name), properties.ScenarioDir(c.ScenarioDir),
		properties.Progress(progress.update))
	if c.Fresh {
		opts = append(opts, properties.FreshSandboxes())
	}
	rep, err := properties.CheckRecords(e.ctx, func() harness.Writer[R] { return w }, recs, opts...)
	progress.done()
	if rep == nil {
		return err
	}
	return present(e, rep, targetOf(tg), 0, c.outputs, err)
}

// outputs are where a certificate goes besides the terminal.
type outputs struct {
	JSON   string `name:"json" help:"Write the certificate as JSON to this file (- for stdout)." placeholder:"FILE"`
	JUnit  string `name:"junit" help:"Write the certificate as JUnit XML to this file (one test case per law)." placeholder:"FILE"`
	Report string `help:"Write the certificate for people to this file: .html (one page, timelines inline) or .md (each timeline an .svg beside it)." placeholder:"FILE"`
}

// present prints the certificate rep (of a writer on target, merged from
// parts when parts > 0; err is Check's) and writes it where out says; its
// error decides the exit code.
func present(e *env, rep *properties.Report, target jsonTarget, parts int, out outputs, err error) error {
	fmt.Fprintln(e.stdout)
	if b := rep.Budget(); b != "" {
		fmt.Fprintf(e.stdout, "budget: %s\n", b)
	}
	summaryTable(e.stdout, rep)
	for _, l := range rep.Laws {
		switch {
		case l.Counterexample != nil:
			fmt.Fprintf(e.stdout, "\n%s\n", l.Counterexample)
		case l.Verdict == properties.Inconclusive || l.Verdict == properties.NotRun:
			fmt.Fprintf(e.stdout, "\n%s %s: %s\n", l.Law, l.Verdict, l.Reason)
		case l.Verdict == properties.Held && l.Explored != nil:
			fmt.Fprintf(e.stdout, "\n%s held at every point explored: %s\n", l.Law, l.Explored)
		}
	}
	if why := rep.Phases.NoReuse; why != "" {
		fmt.Fprintf(e.stdout, "\nnote: runs had new sandboxes and their own setup instead of reused ones (slower): %s\n", why)
	}
	if out.JSON != "" {
		if err := writeJSON(out.JSON, e.stdout, toJSON(rep, target, parts)); err != nil {
			return err
		}
	}
	if out.JUnit != "" {
		if err := writeJUnit(out.JUnit, rep); err != nil {
			return err
		}
	}
	if out.Report != "" {
		cert := &certificate.Certificate{Writer: rep.Writer, Way: target.Way, ServerVersion: target.ServerVersion, WriterRole: target.WriterRole,
			Seed: rep.Seed, Budget: rep.Budget(), Version: version, Made: time.Now(), Laws: rep.Laws}
		if err := cert.Write(out.Report); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "\nthe certificate is in %s\n", out.Report)
	}
	if errors.Is(err, properties.ErrWriterFails) || errors.Is(err, trial.ErrTargetGone) || errors.Is(err, trial.ErrClosed) {
		return err // exit 2: the writer cannot work, the server went away, or the run was interrupted: not a violation
	}
	held := true
	for _, l := range rep.Laws {
		held = held && (l.Verdict == properties.Held || l.Verdict == properties.NotClaimed)
	}
	switch {
	case !held:
		return violation{"not certified: a claimed law was violated or is inconclusive (see above)"}
	case rep.Shard.Of > 1:
		fmt.Fprintf(e.stdout, "\npart %s: every claimed law held in this part\n", rep.Shard)
	default:
		fmt.Fprintln(e.stdout, "\ncertified: every claimed law held")
	}
	return nil
}

// shard is --shard's option (none without it); a part needs --seed.
func (c certifyCmd) shard() ([]properties.Option, error) {
	if c.Shard == "" {
		return nil, nil
	}
	sh, err := parseShard(c.Shard)
	switch {
	case err != nil:
		return nil, err
	case c.Seed == 0:
		return nil, usageError{fmt.Sprintf("--shard %s needs --seed: every part must draw the same trials (any number, the same for all parts)", c.Shard)}
	}
	return []properties.Option{properties.Sharded(sh)}, nil
}

// parseShard reads --shard I/N.
func parseShard(s string) (properties.Shard, error) {
	var sh properties.Shard
	if n, err := fmt.Sscanf(s, "%d/%d", &sh.Index, &sh.Of); err != nil || n != 2 || sh.Of < 1 || sh.Index < 1 || sh.Index > sh.Of ||
		fmt.Sprintf("%d/%d", sh.Index, sh.Of) != s {
		return sh, usageError{fmt.Sprintf("--shard %q: give the part as I/N, e.g. 2/4 for the second of four parts", s)}
	}
	return sh, nil
}

// checkReportPath refuses a --report file of a kind there is no renderer
// for, before any trial runs.
func checkReportPath(path string) error {
	if path == "" {
		return nil
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".html", ".htm", ".md":
		return nil
	}
	return usageError{fmt.Sprintf("--report %s: say .html (one page) or .md (Markdown with SVG timelines beside it)", path)}
}

// preflight runs a small batch once without faults, so that a writer
// that cannot work at all is told so plainly instead of as a violation.
func preflight[R any](e *env, tg *trial.Target, w harness.Writer[R], records []R) error {
	batches := []harness.Batch[R]{{ID: "b1", Records: records, LogicalTime: strategies.Epoch}}
	obs, err := trial.Run(e.ctx, tg, w, harness.CleanScenario(batches), trial.MaxAttempts(2))
	if errors.Is(err, trial.ErrSetup) {
		return fmt.Errorf("the writer's setup fails: %w", err)
	}
	if err != nil {
		return err
	}
	defer obs.Sandbox.Drop(e.ctx)
	if len(obs.Exhausted) > 0 {
		last := ""
		for _, s := range obs.Steps {
			if s.Err != "" {
				last = s.Err
			}
		}
		return fmt.Errorf("the writer fails deterministically on batch %s, without any fault: %s", obs.Exhausted[0], last)
	}
	return nil
}

type replayCmd struct {
	File string `arg:"" help:"A scenario file written for a counterexample." type:"existingfile"`
	writerFlags
	compareFlags
	targetFlags
}

// Run re-runs the scenario against the law it violated.
func (c replayCmd) Run(e *env) error {
	sf, err := properties.LoadScenario[json.RawMessage](c.File)
	if err != nil {
		return usageError{err.Error()}
	}
	f, recorded, err := c.flagsFor(sf.Writer)
	if err != nil {
		return err
	}
	if recorded != nil {
		return runReplay(e, c, recorded, sf.Law, sf.Writer)
	}
	c.writerFlags = f
	return c.withWriter(
		func(w writer) error { return runReplay(e, c, w, sf.Law, nameOf(w)) },
		func(w recordWriter, _ *recordspec.Spec) error { return runReplay(e, c, w, sf.Law, nameOf(w)) })
}

// runReplay re-runs the scenario file against w.
func runReplay[R any](e *env, c replayCmd, w harness.Writer[R], law harness.Law, name string) error {
	opts := c.options()
	tg, err := c.open(e.ctx, e.stderr)
	if err != nil {
		return err
	}
	defer tg.Close()
	fmt.Fprintf(e.stdout, "replaying %s (%s, %s) on %s\n", c.File, law, name, tg)
	lr, err := properties.ReplayFile(e.ctx, func() harness.Writer[R] { return w }, c.File, append(opts, properties.OnTarget(tg), properties.WriterName(name))...)
	if err != nil {
		return err
	}
	if lr.Verdict == properties.Violated {
		fmt.Fprintf(e.stdout, "\n%s\n", lr.Counterexample)
		return violation{fmt.Sprintf("%s is still violated", law)}
	}
	fmt.Fprintf(e.stdout, "%s holds on this scenario now\n", law)
	return nil
}

// flagsFor finds the writer of a scenario file: the flags when given, else
// the name the file records: an external writer (returned as flags), or a
// reference or anti-pattern writer of this module (returned as a writer).
func (c replayCmd) flagsFor(recorded string) (writerFlags, writer, error) {
	f := c.writerFlags
	n, err := external.ParseName(recorded)
	if err == nil && f.Records == "" {
		f.Records = n.Records // the scenario's records are of this shape
	}
	if f.Exec != "" || f.SQL != "" {
		return f, nil, nil
	}
	if err == nil {
		f.Setup, f.SetupSQL = n.Setup, n.SetupSQL
		if n.Kind == "exec" {
			f.Exec = n.Main
		} else {
			f.SQL = n.Main
			if _, err := os.Stat(f.SQL); err != nil {
				return f, nil, usageError{fmt.Sprintf("the scenario was recorded for %s, which is not here; pass --sql FILE", f.SQL)}
			}
		}
		if f.SetupSQL != "" {
			if _, err := os.Stat(f.SetupSQL); err != nil {
				return f, nil, usageError{fmt.Sprintf("the scenario was recorded with the setup file %s, which is not here; pass --setup-sql FILE", f.SetupSQL)}
			}
		}
		return f, nil, nil
	}
	if f.Records != "" {
		return f, nil, usageError{fmt.Sprintf("the scenario was recorded for %s, whose records are the default orders; drop --records", recorded)}
	}
	if l, ok := antipatterns.Lookup(strings.TrimPrefix(recorded, "antipatterns.")); ok {
		return f, l.Broken, nil
	}
	known := map[string]writer{"reference.Upsert": reference.Upsert{}, "reference.Dedup": reference.Dedup{},
		"reference.PartitionOverwrite": reference.PartitionOverwrite{}, "reference.Aggregate": reference.Aggregate{}}
	if w, ok := known[recorded]; ok {
		return f, w, nil
	}
	return f, nil, usageError{fmt.Sprintf("the scenario was recorded for writer %q, which idemcheck cannot build; pass --exec CMD or --sql FILE", recorded)}
}
