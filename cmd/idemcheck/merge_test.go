package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// workflow is what this test reads of the GitHub Actions workflow the
// README offers for sharded certification.
type workflow struct {
	Env  map[string]string `yaml:"env"`
	Jobs map[string]struct {
		Strategy struct {
			Matrix struct {
				Part []int `yaml:"part"`
			} `yaml:"matrix"`
		} `yaml:"strategy"`
		Steps []struct {
			Name string `yaml:"name"`
			Run  string `yaml:"run"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

// step is the run command of the named step of job.
func (w workflow) step(t *testing.T, job, name string) string {
	for _, s := range w.Jobs[job].Steps {
		if strings.HasPrefix(s.Name, name) {
			return s.Run
		}
	}
	t.Fatalf("the workflow has no step %q in job %s", name, job)
	return ""
}

// The sharded workflow's own commands, run here part after part (20
// checks instead of its 100, to keep the suite short) and merged, give
// the certificate of one unsplit run: the same verdicts and first
// failures, the trials summed. A correct writer is certified, a broken
// one is not, in both.
func TestShardedWorkflowMergesToTheWholeRun(t *testing.T) {
	b, err := os.ReadFile("testdata/workflows/idemcheck-sharded.yml")
	if err != nil {
		t.Fatal(err)
	}
	var wf workflow
	if err := yaml.Unmarshal(b, &wf); err != nil {
		t.Fatal(err)
	}
	parts := wf.Jobs["part"].Strategy.Matrix.Part
	if fmt.Sprint(len(parts)) != wf.Env["PARTS"] {
		t.Fatalf("the matrix has %d parts, PARTS says %s", len(parts), wf.Env["PARTS"])
	}
	certifyRun, mergeRun := wf.step(t, "part", "certify part"), wf.step(t, "certificate", "merge the parts")
	for _, tc := range []struct {
		name, writer string
		exit         int
	}{
		{"correct", wf.Env["WRITER"], exitOK},
		{"broken", "--sql testdata/naive_insert.sql --setup-sql testdata/setup.sql", exitViolation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range []string{"upsert.sql", "naive_insert.sql", "setup.sql"} {
				b, err := os.ReadFile(filepath.Join("testdata", f))
				if err != nil {
					t.Fatal(err)
				}
				os.MkdirAll(filepath.Join(dir, "testdata"), 0o755)
				if err := os.WriteFile(filepath.Join(dir, "testdata", f), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			env := append(os.Environ(), "PATH="+filepath.Dir(binary)+":"+os.Getenv("PATH"),
				"WRITER="+tc.writer, "SEED="+wf.Env["SEED"], "CHECKS=20", "PARTS="+wf.Env["PARTS"])
			sh := func(command string) (int, string) {
				cmd := exec.Command("sh", "-c", command)
				cmd.Dir, cmd.Env = dir, env
				out, err := cmd.CombinedOutput()
				if exit, ok := err.(*exec.ExitError); ok {
					return exit.ExitCode(), string(out)
				}
				if err != nil {
					t.Fatal(err)
				}
				return 0, string(out)
			}
			for _, p := range parts {
				code, out := sh(strings.ReplaceAll(certifyRun, "${{ matrix.part }}", fmt.Sprint(p)))
				if code != exitOK && code != exitViolation {
					t.Fatalf("part %d: exit %d\n%s", p, code, out)
				}
			}
			code, out := sh(mergeRun)
			if code != tc.exit {
				t.Fatalf("merge: exit %d, want %d\n%s", code, tc.exit, out)
			}
			for _, f := range []string{"idemcheck.xml", "idemcheck.html"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("merge wrote no %s: %v", f, err)
				}
			}
			code, out = sh("idemcheck certify $WRITER --seed $SEED --checks $CHECKS --json whole.json")
			if code != tc.exit {
				t.Fatalf("the whole run: exit %d, want %d\n%s", code, tc.exit, out)
			}
			merged, whole := readReport(t, filepath.Join(dir, "idemcheck.json")), readReport(t, filepath.Join(dir, "whole.json"))
			if merged.Parts != len(parts) {
				t.Errorf("the merged certificate says %d parts", merged.Parts)
			}
			for i, w := range whole.Laws {
				m := merged.Laws[i]
				t.Logf("%s: whole %s, %d trials, first failure %d; merged %s, %d trials, first failure %d", w.Name, w.Verdict, w.Trials, w.FirstFailure, m.Verdict, m.Trials, m.FirstFailure)
				if m.Verdict != w.Verdict || m.FirstFailure != w.FirstFailure {
					t.Errorf("%s: merged %s at trial %d, the whole run %s at trial %d", w.Name, m.Verdict, m.FirstFailure, w.Verdict, w.FirstFailure)
				}
				if w.Verdict == "held" && m.Trials != w.Trials {
					t.Errorf("%s: merged %d trials, the whole run %d", w.Name, m.Trials, w.Trials)
				}
			}
		})
	}
}

func readReport(t *testing.T, path string) jsonReport {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r jsonReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// Parts that cannot be merged, and a part that could not be repeated, are
// refused with what to do.
func TestShardAndMergeRefuseBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"certify", "--sql", "testdata/upsert.sql", "--setup-sql", "testdata/setup.sql", "--shard", "2/4"}, "--shard 2/4 needs --seed"},
		{[]string{"certify", "--sql", "testdata/upsert.sql", "--setup-sql", "testdata/setup.sql", "--shard", "5/4", "--seed", "1"}, "give the part as I/N"},
	} {
		code, out, errOut := idemcheck(t, tc.args...)
		if code != exitUsage || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("%v: exit %d, want %d and %q:\n%s%s", tc.args, code, exitUsage, tc.want, out, errOut)
		}
	}
	part := filepath.Join(dir, "part-1.json")
	code, out, errOut := idemcheck(t, "certify", "--sql", "testdata/upsert.sql", "--setup-sql", "testdata/setup.sql", "--laws", "Determinism",
		"--checks", "4", "--seed", "3", "--shard", "1/2", "--json", part)
	if code != exitOK || !strings.Contains(out, "part 1/2: every claimed law held in this part") {
		t.Fatalf("part 1/2: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = idemcheck(t, "merge", part)
	if code != exitUsage || !strings.Contains(errOut, "part 2/2 is missing") {
		t.Errorf("merging one of two parts: exit %d\n%s%s", code, out, errOut)
	}
	notJSON := filepath.Join(dir, "x.json")
	os.WriteFile(notJSON, []byte("hello"), 0o644)
	code, _, errOut = idemcheck(t, "merge", notJSON)
	if code != exitUsage || !strings.Contains(errOut, "not a certificate written by idemcheck certify --json") {
		t.Errorf("merging a file that is not JSON: exit %d\n%s", code, errOut)
	}
}

// Exhaustive mode splits too: two parts of --exhaustive, merged from their
// JSON, explore the points and reach the distinct states of the whole run.
func TestExhaustiveShardsMerge(t *testing.T) {
	dir := t.TempDir()
	args := []string{"certify", "--sql", "testdata/upsert.sql", "--setup-sql", "testdata/setup.sql", "--laws", "RetryEquivalence",
		"--exhaustive", "--exhaustive-sets", "0", "--double-faults", "2", "--seed", "4"}
	whole := filepath.Join(dir, "whole.json")
	if code, out, errOut := idemcheck(t, append(args, "--json", whole)...); code != exitOK {
		t.Fatalf("whole run: exit %d\n%s%s", code, out, errOut)
	}
	var parts []string
	for i := 1; i <= 2; i++ {
		part := filepath.Join(dir, fmt.Sprintf("part-%d.json", i))
		if code, out, errOut := idemcheck(t, append(args, "--shard", fmt.Sprintf("%d/2", i), "--json", part)...); code != exitOK {
			t.Fatalf("part %d/2: exit %d\n%s%s", i, code, out, errOut)
		}
		parts = append(parts, part)
	}
	merged := filepath.Join(dir, "merged.json")
	if code, out, errOut := idemcheck(t, append([]string{"merge", "--json", merged}, parts...)...); code != exitOK {
		t.Fatalf("merge: exit %d\n%s%s", code, out, errOut)
	}
	w, m := readReport(t, whole), readReport(t, merged)
	for i, wl := range w.Laws {
		ml := m.Laws[i]
		if wl.Verdict != ml.Verdict || (wl.Explored == nil) != (ml.Explored == nil) ||
			wl.Explored != nil && (wl.Explored.Points != ml.Explored.Points || wl.Explored.States != ml.Explored.States) {
			t.Errorf("%s: whole %s %+v, merged %s %+v", wl.Name, wl.Verdict, wl.Explored, ml.Verdict, ml.Explored)
		}
	}
}
