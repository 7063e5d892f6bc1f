package trial

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// localTarget opens an ephemeral cluster, used and closed by the test.
func localTarget(t *testing.T) *Target {
	t.Helper()
	tg, err := OpenTarget(context.Background(), ByWay(WayLocal), NoSignalHandling())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tg.Close() })
	useTarget(t, tg)
	return tg
}

// TestLocalClustersStartFromTheInitdbTemplate: the first ephemeral cluster
// of a set of binaries runs initdb and saves its output; the next ones
// copy it (owned by the user the server runs as), and a damaged template
// is replaced, not used.
func TestLocalClustersStartFromTheInitdbTemplate(t *testing.T) {
	cache := t.TempDir()
	real := templateCache
	templateCache = func() string { return cache }
	defer func() { templateCache = real }()
	binDir, err := findPGBinDir(os.Getenv(EnvPGBinDir))
	if err != nil {
		t.Skipf("this test starts ephemeral clusters, and there are no PostgreSQL server binaries here (%v); .ci/run installs them, so in CI it runs", err)
	}
	tpl := templatePath(binDir)
	if tpl == "" || !strings.HasPrefix(tpl, cache) {
		t.Fatalf("template path %q, want one in %s", tpl, cache)
	}

	first := localTarget(t)
	if strings.Contains(first.String(), "copied") {
		t.Errorf("the first cluster, with no template yet: %s", first)
	}
	if _, err := os.Stat(filepath.Join(tpl, "global", "pg_control")); err != nil {
		t.Fatalf("initdb's output was not saved as the template: %v", err)
	}

	second := localTarget(t)
	if !strings.Contains(second.String(), "copied from "+tpl) {
		t.Errorf("the second cluster did not start from the template: %s", second)
	}
	data := filepath.Join(localDir(t, second), "data")
	err = filepath.Walk(data, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if uid := info.Sys().(*syscall.Stat_t).Uid; os.Geteuid() == 0 && uid == 0 {
			t.Errorf("%s belongs to root; the server runs as an unprivileged user", path)
			return filepath.SkipAll
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(data); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("data directory mode %v (%v), want 0700", st.Mode().Perm(), err)
	}

	// A damaged template: the cluster starts from initdb, and a good
	// template replaces the damaged one.
	if err := os.WriteFile(filepath.Join(tpl, "global", "pg_control"), []byte("damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	third := localTarget(t)
	if strings.Contains(third.String(), "copied") {
		t.Errorf("started from a damaged template: %s", third)
	}
	fourth := localTarget(t)
	if !strings.Contains(fourth.String(), "copied from "+tpl) {
		t.Errorf("the template was not saved again after a damaged one: %s", fourth)
	}
}

// TestTemplatesAreSavedOnceAndTidied: a template is saved once, and
// tidying beside it removes the templates of older binaries in the same
// directory and temporary ones a killed process left, and leaves other
// directories' templates and one being written alone.
func TestTemplatesAreSavedOnceAndTidied(t *testing.T) {
	cache := t.TempDir()
	data := filepath.Join(t.TempDir(), "data")
	for _, d := range []string{data, filepath.Join(data, "global")} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(data, "PG_VERSION"), []byte("15\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	older := filepath.Join(cache, templatePrefix+"aaaaaaaa-1111111111111111")
	other := filepath.Join(cache, templatePrefix+"bbbbbbbb-1111111111111111")
	leftOver := filepath.Join(cache, "."+templatePrefix+"123")
	writing := filepath.Join(cache, "."+templatePrefix+"456")
	for _, d := range []string{older, other, leftOver, writing} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	hourAgo := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(leftOver, hourAgo, hourAgo); err != nil {
		t.Fatal(err)
	}
	tpl := filepath.Join(cache, templatePrefix+"aaaaaaaa-2222222222222222")
	if err := saveTemplate(data, tpl); err != nil {
		t.Fatal(err)
	}
	tidyTemplates(tpl)
	if b, err := os.ReadFile(filepath.Join(tpl, "PG_VERSION")); err != nil || string(b) != "15\n" {
		t.Errorf("template PG_VERSION %q, %v", b, err)
	}
	if st, err := os.Stat(filepath.Join(tpl, "global")); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("template's global: %v, %v; want a directory of mode 0700", st, err)
	}
	for d, want := range map[string]bool{older: false, other: true, leftOver: false, writing: true} {
		if _, err := os.Stat(d); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", filepath.Base(d), err == nil, want)
		}
	}
	// Saved once, a template is not written again.
	if err := os.WriteFile(filepath.Join(data, "PG_VERSION"), []byte("16\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := saveTemplate(data, tpl); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(tpl, "PG_VERSION")); string(b) != "15\n" {
		t.Errorf("a saved template was overwritten: PG_VERSION %q", b)
	}
}
