package external

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Debian and Ubuntu install psql as pg_wrapper (postgresql-common), a Perl
// script that picks a client version and execs it. Starting Perl and its
// modules costs about 30 ms of CPU, three times what psql itself costs to
// connect, run a statement and exit; a psql writer's certification starts
// psql thousands of times. With PGHOST set, which the harness always does,
// PGCLUSTER unset and no --cluster argument, pg_wrapper's choice does not
// depend on anything else: the newest installed version's psql, run with
// PGSYSCONFDIR defaulting to /etc/postgresql-common. A writer's PATH
// starts with a directory holding a psql script that does just that, in sh,
// and hands every other case to pg_wrapper itself: the same program runs
// with the same arguments and environment, without Perl.
//
// Only psql is bypassed (pg_dump, createdb and the others still go through
// pg_wrapper), and only when the newest version is 13 or later (older ones
// have pg_wrapper preload readline). A writer that names /usr/bin/psql by
// its path is not affected.

// wrapperBinroot is where postgresql-common keeps each version's programs.
const wrapperBinroot = "/usr/lib/postgresql"

// bypass is what a writer's PATH begins with: dir holds a psql that runs
// psql, the newest version's, without pg_wrapper. dir is "" when psql
// is not pg_wrapper or the bypass could not be written.
type bypass struct{ dir, psql string }

// wrapperPATH decides once per process; the script is kept under the
// user's cache directory, named by its content, like a build cache.
var wrapperPATH = sync.OnceValue(func() bypass {
	cache, err := os.UserCacheDir()
	if err != nil {
		return bypass{}
	}
	wrapper, err := exec.LookPath("psql")
	if err != nil {
		return bypass{}
	}
	script, psql, ok := wrapperBypass(wrapper, wrapperBinroot)
	if !ok {
		return bypass{}
	}
	dir, err := writeBypass(filepath.Join(cache, "idemcheck"), script)
	if err != nil {
		return bypass{}
	}
	return bypass{dir: dir, psql: psql}
})

// Psql says which psql a writer's command finds first on its PATH, for
// idemcheck doctor.
func Psql() string {
	if b := wrapperPATH(); b.dir != "" {
		return fmt.Sprintf("%s, without Debian's pg_wrapper (a psql in %s runs it, first on writers' PATH)", b.psql, b.dir)
	}
	psql, err := exec.LookPath("psql")
	if err != nil {
		return "none on PATH: writers that run psql will fail"
	}
	return psql
}

// versionDir matches pg_wrapper's version directory names (PgCommon's
// get_versions).
var versionDir = regexp.MustCompile(`^\d+\.?\d+$`)

// wrapperBypass returns the bypass script for the psql found at wrapper,
// and the psql it runs, when wrapper is pg_wrapper and binroot holds a
// version's psql of 13 or later.
func wrapperBypass(wrapper, binroot string) (script, psql string, ok bool) {
	resolved, err := filepath.EvalSymlinks(wrapper)
	if err != nil || filepath.Base(resolved) != "pg_wrapper" || filepath.Base(filepath.Dir(resolved)) != "postgresql-common" {
		return "", "", false
	}
	entries, err := os.ReadDir(binroot)
	if err != nil {
		return "", "", false
	}
	newest, best := "", 0.0
	for _, e := range entries {
		if !versionDir.MatchString(e.Name()) {
			continue
		}
		if fi, err := os.Stat(filepath.Join(binroot, e.Name(), "bin", "psql")); err != nil || fi.Mode()&0o111 == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(e.Name(), 64); err == nil && v > best {
			newest, best = filepath.Join(binroot, e.Name(), "bin", "psql"), v
		}
	}
	if best < 13 {
		return "", "", false
	}
	return fmt.Sprintf(bypassScript, shellQuote(newest), shellQuote(wrapper)), newest, true
}

// bypassScript is the psql in a writer's PATH: %[1]s is the newest
// version's psql, %[2]s pg_wrapper's link.
const bypassScript = `#!/bin/sh
# Written by idemcheck: what Debian's pg_wrapper does for psql when PGHOST is
# set, PGCLUSTER is not and no --cluster is given, without starting Perl.
# Every other case goes to pg_wrapper.
if [ -n "${PGHOST+set}" ] && [ -z "${PGCLUSTER+set}" ]; then
	for a in "$@"; do
		case $a in
		--) break ;;
		--cluster | --cluster=*) exec %[2]s "$@" ;;
		esac
	done
	PGSYSCONFDIR="${PGSYSCONFDIR-/etc/postgresql-common}"
	export PGSYSCONFDIR
	exec %[1]s "$@"
fi
exec %[2]s "$@"
`

// writeBypass writes script as psql in a directory under cache named by
// its content (renamed into place, so concurrent processes agree) and
// returns the directory.
func writeBypass(cache, script string) (string, error) {
	sum := sha256.Sum256([]byte(script))
	dir := filepath.Join(cache, "psql-"+hex.EncodeToString(sum[:6]))
	file := filepath.Join(dir, "psql")
	if b, err := os.ReadFile(file); err == nil && string(b) == script {
		return dir, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".psql-*")
	if err != nil {
		return "", err
	}
	_, err = tmp.WriteString(script)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o755)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return dir, nil
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
