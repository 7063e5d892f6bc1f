package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/jackc/pgx/v5"
)

// binary is the idemcheck command built for the tests.
var binary string

// testTarget is the PostgreSQL the runs under test share, by URL.
var testTarget *trial.Target

// TestMain builds the command, and shares one PostgreSQL among the runs
// under test through IDEMCHECK_DATABASE_URL, as a user with an existing
// server would.
func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "idemcheck-bin-")
	if err != nil {
		fmt.Println(err)
		return 2
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "idemcheck")
	build := exec.Command(goTool(), "build", "-o", binary, ".")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Printf("go build: %v\n%s", err, out)
		return 2
	}
	tg, err := trial.OpenTarget(context.Background())
	if err != nil {
		fmt.Println(err)
		return 2
	}
	defer tg.Close()
	testTarget = tg
	os.Setenv(trial.EnvDatabaseURL, tg.ConnString())
	os.Setenv(trial.EnvTarget, "")
	return m.Run()
}

// goTool is the go command that runs these tests.
func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); runtime.GOROOT() != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}

// idemcheck runs the built command and returns its exit code and output.
func idemcheck(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errOut.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String(), errOut.String()
	}
	t.Fatalf("run %s: %v", binary, err)
	return 0, "", ""
}

const setupSQL = "psql -X -q -v ON_ERROR_STOP=1 -f testdata/setup.sql"

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed; .ci/run installs it (apt-get install postgresql-client python3-psycopg2)", tool)
		}
	}
}

// certify runs idemcheck certify with args and returns the verdict per law
// from its JSON certificate.
func certify(t *testing.T, wantExit int, args ...string) map[string]jsonLaw {
	t.Helper()
	out := filepath.Join(t.TempDir(), "cert.json")
	args = append([]string{"certify", "--json", out, "--scenario-dir", t.TempDir(), "--shrink-time", "5s"}, args...)
	code, stdout, stderr := idemcheck(t, args...)
	if code != wantExit {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, wantExit, stdout, stderr)
	}
	rep := readReport(t, out)
	if rep.Target.Way != "url" || rep.Target.ServerVersion == "" {
		t.Errorf("target %+v", rep.Target)
	}
	verdicts := map[string]jsonLaw{}
	for _, l := range rep.Laws {
		verdicts[l.Name] = l
	}
	return verdicts
}

func TestCertifyExternalWriters(t *testing.T) {
	needTools(t, "psql", "/usr/bin/python3")
	for _, tc := range []struct {
		name string
		args []string
		exit int
		want map[string]string
	}{
		{"naive copy (shell+psql)", []string{"--exec", "./testdata/naive_copy.sh", "--setup", setupSQL, "--laws", "ReplayIdempotence", "--checks", "3", "--shrink-time", "1s"},
			exitViolation, map[string]string{"ReplayIdempotence": "violated", "RetryEquivalence": "not-claimed"}},
		// Caught by a smoke scenario (a crash between the last two
		// commits) for any seed; shrinking is bounded at 1s.
		{"delete+insert without a transaction (shell+psql)", []string{"--exec", "./testdata/delete_insert_notx.sh", "--setup", setupSQL, "--laws", "CrashAtomicity",
			"--checks", "3", "--partition-field", "event_date", "--shrink-time", "1s"},
			exitViolation, map[string]string{"CrashAtomicity": "violated"}},
		// A correct writer holds for any seed: its faults fire in the smoke
		// scenarios whatever the seed. These small budgets do not reach the
		// default coverage, which TestCoverageIsReported asserts, so it is
		// off here.
		{"upsert in a transaction (shell+psql)", []string{"--exec", "./testdata/upsert_tx.sh", "--setup", setupSQL, "--laws", "RetryEquivalence,OrderIndependence", "--checks", "4", "--min-coverage", "0"},
			exitOK, map[string]string{"RetryEquivalence": "held", "OrderIndependence": "held"}},
		{"upsert (python3 + psycopg2)", []string{"--exec", "/usr/bin/python3 testdata/upsert.py", "--setup", setupSQL, "--laws", "RetryEquivalence,ExactlyOnceEffect", "--checks", "4", "--min-coverage", "0"},
			exitOK, map[string]string{"RetryEquivalence": "held", "ExactlyOnceEffect": "held"}},
		// The dangerous step comes late (rounds 12 and 13); the smoke
		// scenarios crash between the last two commits whatever the seed.
		{"late delete+insert without a transaction (shell+psql)", []string{"--exec", "./testdata/late_delete_insert.sh", "--setup", setupSQL, "--laws", "CrashAtomicity",
			"--checks", "3", "--partition-field", "event_date", "--shrink-time", "1s"},
			exitViolation, map[string]string{"CrashAtomicity": "violated"}},
		{"late overwrite in a transaction (shell+psql)", []string{"--exec", "./testdata/late_overwrite_tx.sh", "--setup", setupSQL, "--laws", "CrashAtomicity,RetryEquivalence",
			"--checks", "3", "--partition-field", "event_date", "--min-coverage", "0"},
			exitOK, map[string]string{"CrashAtomicity": "held", "RetryEquivalence": "held"}},
		// A setup file with a command writer, a setup command with a SQL
		// writer.
		{"upsert in a transaction, SQL setup (shell+psql, --setup-sql)", []string{"--exec", "./testdata/upsert_tx.sh", "--setup-sql", "testdata/setup.sql", "--laws", "ReplayIdempotence", "--checks", "3"},
			exitOK, map[string]string{"ReplayIdempotence": "held"}},
		{"upsert, command setup (--sql, --setup)", []string{"--sql", "testdata/upsert.sql", "--setup", setupSQL, "--laws", "ReplayIdempotence", "--checks", "3"},
			exitOK, map[string]string{"ReplayIdempotence": "held"}},
		{"upsert (--sql)", []string{"--sql", "testdata/upsert.sql", "--setup-sql", "testdata/setup.sql", "--laws", "ReplayIdempotence,RetryEquivalence,CrashAtomicity,OrderIndependence", "--checks", "20", "--min-coverage", "0"},
			exitOK, map[string]string{"ReplayIdempotence": "held", "RetryEquivalence": "held", "CrashAtomicity": "held", "OrderIndependence": "held"}},
		{"custom records: version-guarded upsert (--sql, --records spec file)", []string{"--sql", "testdata/readings_upsert.sql", "--setup-sql", "testdata/readings_setup.sql",
			"--records", "testdata/readings.spec", "--laws", "ReplayIdempotence,RetryEquivalence,OrderIndependence", "--checks", "20", "--min-coverage", "0"},
			exitOK, map[string]string{"ReplayIdempotence": "held", "RetryEquivalence": "held", "OrderIndependence": "held"}},
		{"custom records: last write wins (--sql, --records spec)", []string{"--sql", "testdata/readings_last_write_wins.sql", "--setup-sql", "testdata/readings_setup.sql",
			"--records", "sensor:text:key,day:date:partition,seq:bigint:version,reading:numeric,ok:boolean", "--laws", "ReplayIdempotence,OrderIndependence", "--checks", "50"},
			exitViolation, map[string]string{"ReplayIdempotence": "held", "OrderIndependence": "violated"}},
		{"sample records: append (python3 + psycopg2, --records JSON lines)", []string{"--exec", "/usr/bin/python3 testdata/events_append.py", "--setup", "psql -X -q -v ON_ERROR_STOP=1 -f testdata/events_setup.sql",
			"--records", "testdata/events_sample.jsonl", "--laws", "ReplayIdempotence", "--checks", "3", "--shrink-time", "1s"},
			exitViolation, map[string]string{"ReplayIdempotence": "violated"}},
		{"load timestamp (--sql)", []string{"--sql", "testdata/stamped_upsert.sql", "--setup-sql", "testdata/stamped_setup.sql", "--laws", "Determinism", "--checks", "10", "--shrink-time", "1s"},
			exitViolation, map[string]string{"Determinism": "violated"}},
		// Once two clean runs differ, the other laws are not run: their
		// verdicts would be noise.
		{"load timestamp, every law (--sql)", []string{"--sql", "testdata/stamped_upsert.sql", "--setup-sql", "testdata/stamped_setup.sql", "--checks", "5", "--shrink-time", "1s"},
			exitViolation, map[string]string{"Determinism": "violated", "ReplayIdempotence": "not-run", "ZombieSafety": "not-run"}},
		{"naive insert, --fail-fast (--sql)", []string{"--sql", "testdata/naive_insert.sql", "--setup-sql", "testdata/setup.sql", "--laws", "ReplayIdempotence,RetryEquivalence",
			"--checks", "5", "--shrink-time", "1s", "--fail-fast"},
			exitViolation, map[string]string{"ReplayIdempotence": "violated", "RetryEquivalence": "not-run"}},
		{"load timestamp, ignored (--sql, --ignore-column)", []string{"--sql", "testdata/stamped_upsert.sql", "--setup-sql", "testdata/stamped_setup.sql", "--laws", "Determinism,ReplayIdempotence",
			"--checks", "10", "--ignore-column", "orders_stamped.loaded_at"},
			exitOK, map[string]string{"Determinism": "held", "ReplayIdempotence": "held"}},
		{"identity surrogate key (--sql)", []string{"--sql", "testdata/surrogate_upsert.sql", "--setup-sql", "testdata/surrogate_setup.sql", "--laws", "ReplayIdempotence", "--checks", "30", "--shrink-time", "1s"},
			exitViolation, map[string]string{"ReplayIdempotence": "violated"}},
		{"identity surrogate key, modulo (--sql, --modulo-surrogate-keys)", []string{"--sql", "testdata/surrogate_upsert.sql", "--setup-sql", "testdata/surrogate_setup.sql", "--laws", "ReplayIdempotence",
			"--checks", "30", "--modulo-surrogate-keys"},
			exitOK, map[string]string{"ReplayIdempotence": "held"}},
		{"MERGE (--sql)", []string{"--sql", "testdata/merge.sql", "--setup-sql", "testdata/setup.sql", "--laws", "ReplayIdempotence,RetryEquivalence,OrderIndependence,ExactlyOnceEffect", "--checks", "20", "--min-coverage", "0"},
			exitOK, map[string]string{"ReplayIdempotence": "held", "RetryEquivalence": "held", "OrderIndependence": "held", "ExactlyOnceEffect": "held"}},
		{"delete+insert without BEGIN (--sql)", []string{"--sql", "testdata/delete_insert.sql", "--setup-sql", "testdata/setup.sql", "--laws", "CrashAtomicity", "--checks", "3", "--partition-field", "event_date", "--shrink-time", "1s"},
			exitViolation, map[string]string{"CrashAtomicity": "violated"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := certify(t, tc.exit, tc.args...)
			for law, want := range tc.want {
				if got[law].Verdict != want {
					t.Errorf("%s: %s (%s), want %s", law, got[law].Verdict, got[law].Reason, want)
				}
				if want == "violated" && (got[law].Counterexample == nil || got[law].Counterexample.Diff == "") {
					t.Errorf("%s: no counterexample with a diff", law)
				}
				// Honest numbers: the search trial that first failed, search
				// and shrinking trials apart, and the time.
				if l := got[law]; want != "not-claimed" && want != "not-run" && l.Seconds <= 0 || (want == "violated" && (l.FirstFailure == 0 || l.FirstFailure != l.Trials)) || (want == "held" && (l.FirstFailure != 0 || l.ShrinkTrials != 0)) {
					t.Errorf("%s %s: trials %d, first failure %d, shrink trials %d, %gs", law, want, l.Trials, l.FirstFailure, l.ShrinkTrials, l.Seconds)
				}
				faultless := law == "Determinism" || law == "IncrementalEquivalence" // clean runs only
				if want == "held" && !faultless && len(got[law].Faults) == 0 {
					t.Errorf("%s held without any fault firing", law)
				}
			}
		})
	}
}

func TestReplayGivesTheSameVerdictAndDiff(t *testing.T) {
	needTools(t, "psql")
	dir := t.TempDir()
	code, out, errOut := idemcheck(t, "certify", "--sql", "testdata/upsert.sql", "--setup-sql", "testdata/setup.sql",
		"--laws", "ReplayIdempotence", "--checks", "5", "--scenario-dir", dir)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	// A broken writer's counterexample, then its replay (twice: the same
	// verdict and diff every time).
	json1 := filepath.Join(dir, "naive.json")
	junit := filepath.Join(dir, "naive.xml")
	code, out, _ = idemcheck(t, "certify", "--exec", "./testdata/naive_copy.sh", "--setup", setupSQL, "--laws", "ReplayIdempotence",
		"--checks", "10", "--scenario-dir", dir, "--json", json1, "--junit", junit, "--shrink-time", "2s")
	if code != exitViolation {
		t.Fatalf("exit %d\n%s", code, out)
	}
	var suites junitSuites
	x, _ := os.ReadFile(junit)
	if err := xml.Unmarshal(x, &suites); err != nil || len(suites.Suites) != 1 {
		t.Fatalf("JUnit: %v\n%s", err, x)
	}
	if s := suites.Suites[0]; s.Tests != 8 || s.Failures != 1 || s.Skipped != 7 || !strings.Contains(string(x), "(-clean +faulty)") {
		t.Errorf("JUnit: %d tests, %d failures, %d skipped, or no diff:\n%s", s.Tests, s.Failures, s.Skipped, x)
	}
	var rep jsonReport
	b, _ := os.ReadFile(json1)
	json.Unmarshal(b, &rep)
	var ce *jsonCounterEx
	for _, l := range rep.Laws {
		if l.Counterexample != nil {
			ce = l.Counterexample
		}
	}
	if ce == nil || ce.ScenarioFile == "" {
		t.Fatalf("no scenario file in %s", b)
	}
	for _, args := range [][]string{{"replay", ce.ScenarioFile}, {"certify", "--replay", ce.ScenarioFile}} {
		code, out, errOut = idemcheck(t, args...)
		if code != exitViolation {
			t.Fatalf("replay exit %d\n%s\n%s", code, out, errOut)
		}
		if !strings.Contains(unindent(out), unindent(ce.Diff)) {
			t.Errorf("the replay's diff differs from the original:\n%s\nwant:\n%s", out, ce.Diff)
		}
	}
}

func TestBadInputSaysWhatIsWrong(t *testing.T) {
	needTools(t, "psql")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"certify", "--frobnicate"}, "unknown flag --frobnicate"},
		{[]string{"certify"}, "say which writer to certify: --exec 'CMD' (any language), --sql FILE, or --consumer 'CMD'"},
		{[]string{"certify", "--exec", "true", "--sql", "testdata/upsert.sql"}, "give either --exec or --sql, not both"},
		{[]string{"certify", "--sql", "testdata/no-such-file.sql"}, "no-such-file.sql"},
		{[]string{"certify", "--exec", "true", "--laws", "Idempotence"}, `"Idempotence" is not a law`},
		{[]string{"certify", "--sql", "testdata/broken_syntax.sql", "--setup-sql", "testdata/setup.sql"}, "fails deterministically on batch b1, without any fault"},
		{[]string{"certify", "--exec", "echo boom >&2; exit 3"}, "fails deterministically on batch b1, without any fault: exit status 3: boom"},
		{[]string{"certify", "--exec", "sleep 30", "--timeout", "300ms"}, "timed out and was killed"},
		// Passes the first try, fails on a later batch on every attempt.
		{[]string{"certify", "--exec", `if grep -q "c-.4."; then echo "customer name rejected" >&2; exit 3; fi`, "--laws", "ReplayIdempotence,RetryEquivalence",
			"--checks", "30", "--shrink-time", "2s", "--scenario-dir", os.TempDir()}, "), without any fault: exit status 3: customer name rejected"},
		{[]string{"certify", "--exec", "true", "--setup", "exit 4"}, "the writer's setup fails"},
		{[]string{"certify", "--exec", "true", "--setup-sql", "testdata/slow_setup.sql"}, "the setup hit a statement timeout"},
		{[]string{"certify", "--exec", "./no-such-writer.sh"}, "exit status 127 (the shell did not find the command: check the path"},
		{[]string{"certify", "--exec", "./testdata/setup.sql"}, "exit status 126 (the command is not executable: chmod +x it"},
		{[]string{"lessons", "NoSuchLesson"}, `no lesson "NoSuchLesson"`},
		// Writers run as a role that owns their sandbox and nothing else.
		{[]string{"certify", "--sql", "testdata/hostile_create_database.sql"}, "testdata/hostile_create_database.sql, statement 1 (-- Hostile on purpose: reaches outside its sandbox. The w...): ERROR: permission denied to create database"},
		{[]string{"certify", "--exec", `psql -X -q -v ON_ERROR_STOP=1 -c "ALTER SYSTEM SET work_mem = '1MB'"`}, `permission denied to set parameter "work_mem"`},
		{[]string{"certify", "--exec", "true", "--records", "id:money"}, `--records: field id: type "money" is not one of bigint`},
		{[]string{"certify", "--exec", "true", "--records", "no-such-records.jsonl"}, "--records: no-such-records.jsonl is neither a file nor a spec"},
		{[]string{"certify", "--exec", "true", "--records", "id:bigint", "--partition-field", "day"}, `--partition-field "day": the records have no such field (id:bigint)`},
		{[]string{"certify", "--exec", "true", "--report", "cert.pdf"}, "--report cert.pdf: say .html"},
		{[]string{"replay", "testdata/setup.sql"}, "is not a scenario file"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := idemcheck(t, tc.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.Contains(out+errOut, tc.want) {
				t.Errorf("output does not say %q:\n%s%s", tc.want, out, errOut)
			}
		})
	}
}

func TestLessonsShowsTheAntiPatternAndItsFix(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "lessons.json")
	code, stdout, stderr := idemcheck(t, "lessons", "NaiveInsert", "--checks", "30", "--json", out)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"NaiveInsert: INSERT without dedup", "breaks ReplayIdempotence", "(-clean +faulty)", "fix: Upsert, ReplayIdempotence held"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("lessons output lacks %q:\n%s", want, stdout)
		}
	}
	var results []lessonResult
	b, _ := os.ReadFile(out)
	if err := json.Unmarshal(b, &results); err != nil || len(results) != 1 {
		t.Fatalf("%v: %s", err, b)
	}
	if r := results[0]; !r.Caught || !r.FixHeld || r.Law != "ReplayIdempotence" || r.Fix != "Upsert" || r.Trials == 0 {
		t.Errorf("lesson result %+v", r)
	}
}

// A teaching run leaves nothing on the user's server: each caught
// lesson's faulty state is dropped, unless --keep keeps it, and then the
// output says where it is and how to drop it.
func TestLessonsLeaveNothingUnlessKept(t *testing.T) {
	sandboxes := func() []string {
		t.Helper()
		rows, err := testTarget.Admin().Query(context.Background(),
			`SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1) ORDER BY 1`, trial.SandboxPrefix)
		if err != nil {
			t.Fatal(err)
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	before := sandboxes()
	code, stdout, stderr := idemcheck(t, "lessons", "NaiveInsert", "--checks", "3", "--all-laws")
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if after := sandboxes(); !slices.Equal(after, before) {
		t.Errorf("the lessons left sandboxes on the server: before %v, after %v", before, after)
	}
	if strings.Contains(stdout, "the faulty state is kept") {
		t.Errorf("the output names a kept sandbox though none is kept:\n%s", stdout)
	}

	code, stdout, stderr = idemcheck(t, "lessons", "NaiveInsert", "--checks", "3", "--keep")
	if code != exitOK {
		t.Fatalf("--keep: exit %d\n%s\n%s", code, stdout, stderr)
	}
	after := sandboxes()
	var kept []string
	for _, name := range after {
		if !slices.Contains(before, name) {
			kept = append(kept, name)
		}
	}
	if len(kept) != 1 {
		t.Fatalf("--keep kept %d sandboxes (%v), want the one of the caught law", len(kept), kept)
	}
	drop := `DROP SCHEMA IF EXISTS "` + kept[0] + `" CASCADE`
	if !strings.Contains(stdout, "the faulty state is kept in schema "+kept[0]) || !strings.Contains(stdout, "drop it with: "+drop) {
		t.Errorf("--keep: the output does not say where the faulty state is and how to drop it (%s):\n%s", drop, stdout)
	}
	if _, err := testTarget.Admin().Exec(context.Background(), drop); err != nil {
		t.Fatal(err)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := idemcheck(t, "version")
	if code != exitOK || !strings.HasPrefix(out, "idemcheck ") {
		t.Errorf("%d %q", code, out)
	}
}

// unindent drops the leading spaces of every line.
func unindent(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimLeft(l, " ")
	}
	return strings.Join(lines, "\n")
}
