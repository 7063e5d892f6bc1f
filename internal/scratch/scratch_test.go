package scratch

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDirHonorsTMPDIR(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	if got := Dir(); got != dir {
		t.Errorf("TMPDIR=%s: Dir() = %s", dir, got)
	}
}

func TestDirPrefersMemory(t *testing.T) {
	t.Setenv("TMPDIR", "")
	if !roomyTmpfs(memDir, MinFree) {
		t.Skipf("%s is not a tmpfs with %d bytes free here", memDir, MinFree)
	}
	if got := Dir(); got != memDir {
		t.Errorf("Dir() = %s, want %s", got, memDir)
	}
	if roomyTmpfs(memDir, 1<<62) {
		t.Errorf("%s has room for 4 EiB", memDir)
	}
}

func TestDirFallsBackToTempDir(t *testing.T) {
	t.Setenv("TMPDIR", "")
	defer func(d string) { memDir = d }(memDir)
	for _, d := range []string{filepath.Join(t.TempDir(), "missing"), "/proc"} {
		memDir = d
		if got := Dir(); got != os.TempDir() {
			t.Errorf("memory directory %s: Dir() = %s, want %s", d, got, os.TempDir())
		}
		if dirs := Dirs(); len(dirs) != 2 || dirs[0] != d || dirs[1] != os.TempDir() {
			t.Errorf("Dirs() = %v", dirs)
		}
	}
}
