package external

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeInstall lays out a postgresql-common install under a temporary
// directory: psql a link to pg_wrapper, and each version's bin/psql a
// script. Every program prints who it is, its arguments one per line, and
// the variables pg_wrapper sets.
func fakeInstall(t *testing.T, versions ...string) (psql, binroot string) {
	t.Helper()
	dir := t.TempDir()
	report := func(who string) string {
		return "#!/bin/sh\necho " + who + "\nfor a in \"$@\"; do echo \"arg $a\"; done\n" +
			"echo \"PGSYSCONFDIR=${PGSYSCONFDIR-unset}\"\n"
	}
	common := filepath.Join(dir, "share", "postgresql-common")
	binroot = filepath.Join(dir, "lib", "postgresql")
	for _, d := range []string{common, filepath.Join(dir, "bin"), binroot} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(common, "pg_wrapper"), []byte(report("wrapper")), 0o755); err != nil {
		t.Fatal(err)
	}
	psql = filepath.Join(dir, "bin", "psql")
	if err := os.Symlink(filepath.Join(common, "pg_wrapper"), psql); err != nil {
		t.Fatal(err)
	}
	for _, v := range versions {
		bin := filepath.Join(binroot, v, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bin, "psql"), []byte(report("psql "+v)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return psql, binroot
}

// runBypass runs the bypass script with args and exactly the environment
// env, and returns what it printed.
func runBypass(t *testing.T, script string, env []string, args ...string) string {
	t.Helper()
	dir, err := writeBypass(t.TempDir(), script)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(dir, "psql"), args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestWrapperBypassChoosesAsPgWrapperDoes(t *testing.T) {
	psql, binroot := fakeInstall(t, "9.6", "12", "16", "13")
	script, newest, ok := wrapperBypass(psql, binroot)
	if !ok {
		t.Fatal("no bypass for pg_wrapper with versions 9.6, 12, 13, 16")
	}
	if want := filepath.Join(binroot, "16", "bin", "psql"); newest != want {
		t.Errorf("runs %s, want %s", newest, want)
	}
	host := []string{"PGHOST=127.0.0.1"}
	for _, c := range []struct {
		name string
		env  []string
		args []string
		want string // the first line: which program ran
	}{
		{"PGHOST set", host, []string{"-X", "-c", "select 1"}, "psql 16"},
		{"arguments kept", host, []string{"-c", "it's \"quoted\"; $HOME", "", "two words"}, "psql 16"},
		{"--cluster after --", host, []string{"--", "--cluster", "15/main"}, "psql 16"},
		{"no PGHOST", []string{}, []string{"-c", "select 1"}, "wrapper"},
		{"empty PGHOST", []string{"PGHOST="}, nil, "psql 16"},
		{"PGCLUSTER", append([]string{"PGCLUSTER=15/main"}, host...), nil, "wrapper"},
		{"--cluster", host, []string{"-X", "--cluster", "15/main"}, "wrapper"},
		{"--cluster=", host, []string{"--cluster=15/main", "-c", "select 1"}, "wrapper"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := runBypass(t, script, c.env, c.args...)
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if lines[0] != c.want {
				t.Fatalf("ran %q, want %q:\n%s", lines[0], c.want, out)
			}
			var args []string
			for _, l := range lines[1 : len(lines)-1] {
				args = append(args, strings.TrimPrefix(l, "arg "))
			}
			if strings.Join(args, "\x00") != strings.Join(c.args, "\x00") {
				t.Errorf("arguments %q, want %q", args, c.args)
			}
			want := "PGSYSCONFDIR=/etc/postgresql-common" // pg_wrapper's default
			if c.want == "wrapper" {
				want = "PGSYSCONFDIR=unset" // pg_wrapper sets it itself
			}
			if got := lines[len(lines)-1]; got != want {
				t.Errorf("%s, want %s", got, want)
			}
		})
	}
	out := runBypass(t, script, append([]string{"PGSYSCONFDIR=/etc/mine"}, host...))
	if !strings.HasSuffix(out, "PGSYSCONFDIR=/etc/mine\n") {
		t.Errorf("a PGSYSCONFDIR of the writer's own was not kept:\n%s", out)
	}
}

func TestWrapperBypassOnlyForPgWrapper(t *testing.T) {
	psql, binroot := fakeInstall(t, "12", "9.6")
	if _, _, ok := wrapperBypass(psql, binroot); ok {
		t.Error("a bypass for versions before 13, whose psql pg_wrapper preloads readline for")
	}
	psql, binroot = fakeInstall(t, "16")
	if err := os.Remove(filepath.Join(binroot, "16", "bin", "psql")); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := wrapperBypass(psql, binroot); ok {
		t.Error("a bypass to a version without psql")
	}
	psql, binroot = fakeInstall(t, "16")
	if _, _, ok := wrapperBypass(filepath.Join(binroot, "16", "bin", "psql"), binroot); ok {
		t.Error("a bypass for a psql that is not pg_wrapper")
	}
}

// TestWrapperBypassRunsTheSamePsql compares the bypass with this machine's
// own pg_wrapper, where there is one: the same psql must answer. Elsewhere
// it is skipped, unless IDEMCHECK_REQUIRE_PG_WRAPPER is set (as .ci/run
// does, on Debian), so in CI it runs or fails.
func TestWrapperBypassRunsTheSamePsql(t *testing.T) {
	skip := t.Skipf
	if os.Getenv("IDEMCHECK_REQUIRE_PG_WRAPPER") != "" {
		skip = t.Fatalf
	}
	psql, err := exec.LookPath("psql")
	if err != nil {
		skip("no psql on PATH: install Debian's postgresql-client to run this test")
	}
	script, _, ok := wrapperBypass(psql, wrapperBinroot)
	if !ok {
		skip("%s is not Debian's pg_wrapper: this test compares the bypass with it", psql)
	}
	env := append(os.Environ(), "PGHOST=127.0.0.1")
	wrapped, err := exec.Command(psql, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", psql, err, wrapped)
	}
	if got := runBypass(t, script, env, "--version"); got != string(wrapped) {
		t.Errorf("the bypass runs %q, pg_wrapper %q", got, wrapped)
	}
}
