package scratch

import (
	"os"
	"syscall"
)

// MinFree is the room a memory-backed directory must have left for Dir to
// choose it: an ephemeral cluster's data directory, with its write-ahead
// log capped, stays well below it.
const MinFree = 2 << 30

// memDir is the memory-backed directory Dir prefers; tests point it
// elsewhere.
var memDir = "/dev/shm"

// tmpfsMagic is the statfs type of tmpfs (linux/magic.h).
const tmpfsMagic = 0x01021994

// Dir is the directory for scratch files: os.TempDir() when TMPDIR is set
// (the user chose), else /dev/shm when it is a tmpfs with at least
// MinFree available (the default on Linux machines and CI runners; not in
// a container, where it is 64 MiB), else os.TempDir().
func Dir() string {
	if os.Getenv("TMPDIR") == "" && roomyTmpfs(memDir, MinFree) {
		return memDir
	}
	return os.TempDir()
}

// Dirs lists every directory Dir may choose, for finding what an earlier
// run left behind.
func Dirs() []string {
	if d := os.TempDir(); d != memDir {
		return []string{memDir, d}
	}
	return []string{memDir}
}

// InMemory reports whether dir is on a tmpfs (memory-backed).
func InMemory(dir string) bool { return roomyTmpfs(dir, 0) }

// roomyTmpfs reports whether dir is a tmpfs with at least min bytes
// available to unprivileged users.
func roomyTmpfs(dir string, min uint64) bool {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return false
	}
	return int64(st.Type) == tmpfsMagic && st.Bavail*uint64(st.Bsize) >= min
}
