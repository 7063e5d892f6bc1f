package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/idemcheck/idemcheck/properties"
)

// targetFlags choose the PostgreSQL.
type targetFlags struct {
	Way        string `help:"Force one way of getting PostgreSQL: url, local or docker (default: the first that applies)." enum:",url,local,docker" default:""`
	WriterRole string `help:"Run writers as this existing role (password in $IDEMCHECK_WRITER_PASSWORD) instead of the run's own least-privilege role, for a writer that needs more than its sandbox; the certificate names it." placeholder:"ROLE" env:"IDEMCHECK_WRITER_ROLE"`
}

func (f targetFlags) open(ctx context.Context, stderr io.Writer) (*trial.Target, error) {
	var opts []trial.TargetOption
	if f.Way != "" {
		opts = append(opts, trial.ByWay(trial.Way(f.Way)))
	}
	if f.WriterRole != "" {
		opts = append(opts, trial.WriterRole(f.WriterRole, os.Getenv(trial.EnvWriterPassword)))
	}
	return trial.OpenTarget(ctx, opts...)
}

// parseLaws reads a comma-separated list of law names ("" or "all": all).
func parseLaws(s string) ([]harness.Law, error) {
	if s == "" || s == "all" {
		return harness.AllLaws, nil
	}
	var out []harness.Law
	for _, name := range strings.Split(s, ",") {
		l, err := parseLaw(strings.TrimSpace(name))
		if err != nil {
			return nil, usageError{"--laws: " + err.Error()}
		}
		out = append(out, l)
	}
	return out, nil
}

// parseLaw reads one law's name, in any case.
func parseLaw(name string) (harness.Law, error) {
	for _, l := range harness.AllLaws {
		if strings.EqualFold(string(l), name) {
			return l, nil
		}
	}
	return "", fmt.Errorf("%q is not a law; the laws are %v", name, harness.AllLaws)
}

// usageError is a mistake in the command line (exit code 2, no stack of
// wrapped errors).
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

// writeJSON writes v as indented JSON to path ("-" for stdout).
func writeJSON(path string, stdout io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "-" {
		_, err = stdout.Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// summaryTable prints law, verdict, trials, faults and time, one row each.
func summaryTable(w io.Writer, rep *properties.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LAW\tVERDICT\tTRIALS\tFAULTS FIRED (trials)\tCOVERAGE\tTIME")
	for _, l := range rep.Laws {
		faults, coverage := orDash(l.FaultSummary()), orDash(l.CoverageSummary())
		if l.Verdict == properties.NotClaimed || l.Verdict == properties.NotRun {
			faults, coverage = "-", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", l.Law, l.Verdict, l.Trials, faults, coverage, l.Duration.Round(10*time.Millisecond))
	}
	tw.Flush()
}

// jsonReport is the --json shape of a certificate, or of one part of a
// sharded certification (Shard set), which idemcheck merge reads back.
type jsonReport struct {
	Writer string     `json:"writer"`
	Target jsonTarget `json:"target"`
	Laws   []jsonLaw  `json:"laws"`
	Seed   uint64     `json:"seed"`
	Checks int        `json:"checks"`
	// MinChecks: the default budget's floor; a law stopped after this many
	// random trials once every class of its crash points was crashed (0:
	// every law ran checks).
	MinChecks   int     `json:"min_checks,omitempty"`
	MinCoverage float64 `json:"min_coverage"`
	// Shard is "I/N" for part I of N; absent for a whole certification.
	Shard string `json:"shard,omitempty"`
	// Parts is how many parts a merged certificate was made of.
	Parts int `json:"parts,omitempty"`
	// Phases is where the runs' time went, summed over runs that overlap.
	Phases jsonPhases `json:"phases"`
}

// jsonPhases is properties.Phases in seconds.
type jsonPhases struct {
	Runs     int     `json:"runs"`
	Sandbox  float64 `json:"sandbox_s"`
	Setup    float64 `json:"setup_s"`
	Attempts float64 `json:"attempts_s"`
	Crashes  float64 `json:"crash_snapshots_s"`
	Snapshot float64 `json:"final_snapshots_s"`
	Compare  float64 `json:"compare_s"`
	Release  float64 `json:"release_s"`
	Restore  float64 `json:"restore_s"`
	Reused   int     `json:"reused_runs"`
	NoReuse  string  `json:"no_reuse,omitempty"`
}

type jsonTarget struct {
	Way           string `json:"way"`
	ServerVersion string `json:"server_version"`
	WriterRole    string `json:"writer_role"`
}

type jsonLaw struct {
	Name         string                       `json:"name"`
	Verdict      string                       `json:"verdict"`
	Trials       int                          `json:"trials"` // search trials: smoke, then random (or exhaustive), up to the first failure
	FirstFailure int                          `json:"first_failure,omitempty"`
	ShrinkTrials int                          `json:"shrink_trials"`
	Seconds      float64                      `json:"seconds"`
	Faults       map[properties.Injection]int `json:"faults"`
	Reason       string                       `json:"reason,omitempty"`
	// Failure is what the violation or the settling finding is about
	// (properties.FailureKind: state-differs, batch-never-acked,
	// nondeterministic, writer-fails, server-gone); merge settles the
	// certificate by it.
	Failure properties.FailureKind `json:"failure,omitempty"`
	// NondeterministicColumns: the columns two clean runs differ in.
	NondeterministicColumns []string       `json:"nondeterministic_columns,omitempty"`
	Counterexample          *jsonCounterEx `json:"counterexample,omitempty"`
	Crashes                 map[string]int `json:"crashes,omitempty"`
	// Coverage: the law's crash points seen and crashed (random mode).
	Coverage *properties.Coverage `json:"coverage,omitempty"`
	// Explored: what exhaustive mode ran.
	Explored *properties.Explored `json:"explored,omitempty"`
}

type jsonCounterEx struct {
	Summary      string       `json:"summary"`
	Scenario     string       `json:"scenario"`
	ScenarioFile string       `json:"scenario_file"`
	Replay       string       `json:"replay,omitempty"`
	Diff         string       `json:"diff"`
	Timeline     string       `json:"timeline,omitempty"`
	Steps        []trial.Step `json:"steps,omitempty"`
	Sandbox      string       `json:"sandbox,omitempty"`
	DropSandbox  string       `json:"drop_sandbox,omitempty"`
	Records      int          `json:"records"`
	Batches      int          `json:"batches"`
	Deliveries   int          `json:"deliveries"`
	Processes    int          `json:"processes,omitempty"` // a consumer's trial: its consumer processes
}

// targetOf is the --json shape of where a run ran.
func targetOf(tg *trial.Target) jsonTarget {
	return jsonTarget{Way: string(tg.Way()), ServerVersion: tg.ServerVersion(), WriterRole: tg.WriterRole()}
}

func toJSON(rep *properties.Report, target jsonTarget, parts int) jsonReport {
	out := jsonReport{Writer: rep.Writer, Target: target, Parts: parts, Seed: rep.Seed, Checks: rep.Checks, MinChecks: rep.MinChecks, MinCoverage: rep.MinCoverage}
	if rep.Shard.Of > 1 {
		out.Shard = rep.Shard.String()
	}
	ph := rep.Phases
	out.Phases = jsonPhases{Runs: ph.Runs, Sandbox: ph.Sandbox.Seconds(), Setup: ph.Setup.Seconds(), Attempts: ph.Attempts.Seconds(),
		Crashes: ph.Crashes.Seconds(), Snapshot: ph.Snapshot.Seconds(), Compare: ph.Compare.Seconds(), Release: ph.Release.Seconds(), Restore: ph.Restore.Seconds(),
		Reused: ph.Reused, NoReuse: ph.NoReuse}
	for _, l := range rep.Laws {
		jl := jsonLaw{Name: string(l.Law), Verdict: string(l.Verdict), Trials: l.Trials, FirstFailure: l.FirstFailure, ShrinkTrials: l.ShrinkTrials,
			Seconds: l.Duration.Seconds(), Faults: l.Faults, Reason: l.Reason, Coverage: l.Coverage, Explored: l.Explored,
			Failure: l.Failure, NondeterministicColumns: l.NondeterministicColumns}
		if jl.Faults == nil {
			jl.Faults = map[properties.Injection]int{}
		}
		if l.InTx+l.AtCommit+l.AfterCommit > 0 {
			jl.Crashes = map[string]int{"in_transaction": l.InTx, "before_commit": l.AtCommit, "after_commit": l.AfterCommit}
		}
		if c := l.Counterexample; c != nil {
			jl.Counterexample = &jsonCounterEx{Summary: c.Summary, Scenario: c.Scenario, ScenarioFile: c.ScenarioFile, Replay: c.Replay,
				Diff: c.Diff, Timeline: c.Timeline, Steps: c.Steps, Sandbox: c.Sandbox, DropSandbox: c.DropSandbox, Records: c.Records, Batches: c.Batches, Deliveries: c.Deliveries,
				Processes: c.Processes}
		}
		out.Laws = append(out.Laws, jl)
	}
	return out
}

// fromJSON reads back a report toJSON wrote (for idemcheck merge).
func fromJSON(j jsonReport) (*properties.Report, error) {
	rep := &properties.Report{Writer: j.Writer, Target: j.Target.Way, Seed: j.Seed, Checks: j.Checks, MinChecks: j.MinChecks, MinCoverage: j.MinCoverage}
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	ph := j.Phases
	rep.Phases = properties.Phases{Runs: ph.Runs, Release: sec(ph.Release), Restore: sec(ph.Restore), Compare: sec(ph.Compare), Reused: ph.Reused, NoReuse: ph.NoReuse,
		Phases: trial.Phases{Sandbox: sec(ph.Sandbox), Setup: sec(ph.Setup), Attempts: sec(ph.Attempts), Crashes: sec(ph.Crashes), Snapshot: sec(ph.Snapshot)}}
	if j.Shard != "" {
		sh, err := parseShard(j.Shard)
		if err != nil {
			return nil, err
		}
		rep.Shard = sh
	}
	for _, jl := range j.Laws {
		law, err := parseLaw(jl.Name)
		if err != nil {
			return nil, err
		}
		l := properties.LawReport{Law: law, Verdict: properties.Verdict(jl.Verdict), Trials: jl.Trials, FirstFailure: jl.FirstFailure,
			ShrinkTrials: jl.ShrinkTrials, Duration: sec(jl.Seconds), Faults: jl.Faults, Reason: jl.Reason,
			Coverage: jl.Coverage, Explored: jl.Explored, Failure: jl.Failure, NondeterministicColumns: jl.NondeterministicColumns,
			InTx: jl.Crashes["in_transaction"], AtCommit: jl.Crashes["before_commit"], AfterCommit: jl.Crashes["after_commit"]}
		if c := jl.Counterexample; c != nil {
			l.Counterexample = &properties.Counterexample{Law: law, Summary: c.Summary, Scenario: c.Scenario, ScenarioFile: c.ScenarioFile,
				Replay: c.Replay, Diff: c.Diff, Timeline: c.Timeline, Steps: c.Steps, Sandbox: c.Sandbox, DropSandbox: c.DropSandbox,
				Records: c.Records, Batches: c.Batches, Deliveries: c.Deliveries, Processes: c.Processes}
		}
		rep.Laws = append(rep.Laws, l)
	}
	return rep, nil
}
