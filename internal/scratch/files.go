package scratch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// The files CreateTemp made that their maker has not removed yet.
var files struct {
	sync.Mutex
	names  map[string]bool
	reaped map[string]bool // the prefixes whose leftovers were reaped
}

// CreateTemp creates a new file in Dir, as os.CreateTemp would, named
// prefix, this process's id, "-", a random part and suffix. The file
// is this process's until Remove: if a signal ends the process first,
// RemoveLeft (which harness/trial's signal handling calls) removes it,
// and the first CreateTemp of a prefix in a later process removes those
// a process killed outright (SIGKILL) left.
func CreateTemp(prefix, suffix string) (*os.File, error) {
	files.Lock()
	if !files.reaped[prefix] {
		if files.reaped == nil {
			files.names, files.reaped = map[string]bool{}, map[string]bool{}
		}
		files.reaped[prefix] = true
		reapLeft(prefix, suffix)
	}
	files.Unlock()
	f, err := os.CreateTemp(Dir(), fmt.Sprintf("%s%d-*%s", prefix, os.Getpid(), suffix))
	if err != nil {
		return nil, err
	}
	files.Lock()
	files.names[f.Name()] = true
	files.Unlock()
	return f, nil
}

// Remove removes a file CreateTemp made.
func Remove(name string) error {
	files.Lock()
	delete(files.names, name)
	files.Unlock()
	return os.Remove(name)
}

// RemoveLeft removes every file CreateTemp made that is still there, for
// a process about to end.
func RemoveLeft() {
	files.Lock()
	defer files.Unlock()
	for name := range files.names {
		_ = os.Remove(name)
		delete(files.names, name)
	}
}

// reapLeft removes the files named prefix<pid>-...suffix, in every
// directory Dir may choose, of processes that no longer run.
func reapLeft(prefix, suffix string) {
	for _, dir := range Dirs() {
		names, _ := filepath.Glob(filepath.Join(dir, prefix+"*"+suffix))
		for _, name := range names {
			pid, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(name), prefix), "-")
			n, err := strconv.Atoi(pid)
			if !ok || err != nil || n <= 0 || n == os.Getpid() {
				continue
			}
			if errors.Is(syscall.Kill(n, 0), syscall.ESRCH) {
				_ = os.Remove(name)
			}
		}
	}
}
