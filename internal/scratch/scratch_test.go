package scratch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
		if os.Getenv("IDEMCHECK_REQUIRE_TMPFS") != "" {
			t.Fatalf("%s is not a tmpfs with %d bytes free, and IDEMCHECK_REQUIRE_TMPFS is set", memDir, MinFree)
		}
		t.Skipf("%s is not a tmpfs with %d bytes free here (in a container, give it room: docker run --shm-size=4g); .ci/run sets IDEMCHECK_REQUIRE_TMPFS=1, so in CI it runs or fails", memDir, MinFree)
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

func TestCreateTempUntilRemoveOrRemoveLeft(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	a, err := CreateTemp("scratch-test-", ".txt")
	if err != nil {
		t.Fatal(err)
	}
	b, err := CreateTemp("scratch-test-", ".txt")
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	b.Close()
	if want := filepath.Join(os.Getenv("TMPDIR"), fmt.Sprintf("scratch-test-%d-", os.Getpid())); !strings.HasPrefix(a.Name(), want) || !strings.HasSuffix(a.Name(), ".txt") {
		t.Errorf("CreateTemp made %s, want %s*.txt", a.Name(), want)
	}
	if err := Remove(a.Name()); err != nil {
		t.Fatal(err)
	}
	RemoveLeft()
	for _, f := range []string{a.Name(), b.Name()} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there: %v", f, err)
		}
	}
}

// The first CreateTemp of a prefix removes the files of that prefix that
// processes which no longer run left, and only those.
func TestCreateTempReapsWhatEndedProcessesLeft(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	defer func(d string) { memDir = d }(memDir)
	memDir = t.TempDir() // the other place Dir may choose
	prefix := fmt.Sprintf("reap-test-%d-", time.Now().UnixNano())
	gone := 1 << 22           // above the largest pid_max: no process has it
	files := map[string]bool{ // name: reaped
		filepath.Join(dir, fmt.Sprintf("%s%d-1.txt", prefix, gone)):         true,
		filepath.Join(memDir, fmt.Sprintf("%s%d-2.txt", prefix, gone)):      true,
		filepath.Join(dir, fmt.Sprintf("%s%d-3.txt", prefix, os.Getppid())): false, // alive
		filepath.Join(dir, fmt.Sprintf("%s%d-4.txt", prefix, os.Getpid())):  false, // this process's
		filepath.Join(dir, fmt.Sprintf("%s%d-5.other", prefix, gone)):       false, // another suffix
		filepath.Join(dir, fmt.Sprintf("%snotapid-6.txt", prefix)):          false,
		filepath.Join(dir, fmt.Sprintf("other-%s%d-7.txt", prefix, gone)):   false,
	}
	for f := range files {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f, err := CreateTemp(prefix, ".txt")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	defer Remove(f.Name())
	for name, reaped := range files {
		_, err := os.Stat(name)
		if gotReaped := errors.Is(err, os.ErrNotExist); gotReaped != reaped {
			t.Errorf("%s: reaped %v, want %v", name, gotReaped, reaped)
		}
	}
}
