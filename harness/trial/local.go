package trial

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/idemcheck/idemcheck/internal/scratch"
	"github.com/jackc/pgx/v5"
)

// localDirPrefix prefixes the temporary directory of every ephemeral cluster.
const localDirPrefix = "idemcheck-pg-"

// findPGBinDir returns the directory holding initdb and postgres: dir if
// given, else the one on PATH, pg_config --bindir, or the newest
// /usr/lib/postgresql/*/bin.
func findPGBinDir(dir string) (string, error) {
	has := func(d string) bool {
		for _, name := range []string{"initdb", "postgres"} {
			if st, err := os.Stat(filepath.Join(d, name)); err != nil || st.IsDir() {
				return false
			}
		}
		return true
	}
	if dir != "" {
		if has(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("trial: %s=%s holds no initdb and postgres", EnvPGBinDir, dir)
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); has(d) {
			return d, nil
		}
	}
	dirs, _ := filepath.Glob(pgLibGlob)
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	return "", errors.New("trial: no PostgreSQL server binaries (initdb, postgres) on PATH, from pg_config --bindir or in /usr/lib/postgresql/*/bin")
}

// pgLibGlob is where Debian and Ubuntu install PostgreSQL's binaries; tests
// point it elsewhere to simulate a machine without them.
var pgLibGlob = "/usr/lib/postgresql/*/bin"

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// startLocal creates and starts an ephemeral cluster: initdb into a fresh
// temporary directory (in memory when there is room: scratch.Dir), or a
// copy of an earlier initdb's output for the same binaries (see
// templatePath), then postgres on a free loopback port (checked to be
// answered by this cluster, not by another that took the port first) and
// a private socket directory, with durability off (fsync,
// synchronous_commit, full_page_writes), the write-ahead log capped near
// 256 MB and, in memory, its dynamic shared memory in the data directory
// (so a server killed outright leaves nothing in /dev/shm). Run as root,
// both run as the "postgres" system user, or "nobody" when there is none,
// since PostgreSQL refuses to run as root.
func startLocal(ctx context.Context, cfg *targetConfig) (*server, error) {
	binDir, err := findPGBinDir(cfg.binDir)
	if err != nil {
		return nil, fmt.Errorf("trial: %w; install them (e.g. apt-get install postgresql) or set %s", err, EnvPGBinDir)
	}
	reapLocalDirs()
	lc, err := newLocalCluster(binDir)
	if err != nil {
		return nil, err
	}
	tpl := templatePath(binDir)
	copied := tpl != "" && copyTemplate(tpl, lc.data, lc.cred) == nil
	if !copied {
		if err := lc.initdb(); err != nil {
			lc.remove()
			return nil, err
		}
		if tpl != "" {
			_ = saveTemplate(lc.data, tpl)
		}
	}
	if tpl != "" {
		tidyTemplates(tpl)
	}
	note := ""
	if copied {
		note = " (initdb's output copied from " + tpl + ")"
	}
	srv, err := lc.start(ctx, note)
	if err != nil && copied && ctx.Err() == nil {
		// The template may be damaged: replace it with initdb's own output,
		// and start from that.
		_ = os.RemoveAll(tpl)
		if err = os.RemoveAll(lc.data); err == nil {
			if err = lc.initdb(); err == nil {
				_ = saveTemplate(lc.data, tpl)
				srv, err = lc.start(ctx, "")
			}
		}
	}
	if err != nil {
		lc.remove()
		return nil, err
	}
	return srv, nil
}

// localCluster is an ephemeral cluster being made: its binaries, its
// directory (the data directory, the socket and the log are in it) and
// the unprivileged user its programs run as (nil: this process's).
type localCluster struct {
	binDir, dir, data string
	cred              *syscall.Credential
}

// newLocalCluster makes the directory of a new cluster of binDir's
// binaries, owned by the user its programs will run as.
func newLocalCluster(binDir string) (*localCluster, error) {
	cred, err := unprivilegedCredential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(scratch.Dir(), localDirPrefix)
	if err != nil {
		return nil, fmt.Errorf("trial: local: temporary directory: %w", err)
	}
	lc := &localCluster{binDir: binDir, dir: dir, data: filepath.Join(dir, "data"), cred: cred}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			lc.remove()
			return nil, fmt.Errorf("trial: local: hand %s to uid %d: %w", dir, cred.Uid, err)
		}
	}
	return lc, nil
}

// remove removes the cluster's directory.
func (lc *localCluster) remove() { _ = os.RemoveAll(lc.dir) }

// command is one of the cluster's programs, run in its directory as its
// user, in a process group of its own.
func (lc *localCluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(lc.binDir, name), args...)
	cmd.Dir = lc.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: lc.cred, Setpgid: true}
	return cmd
}

// initdb makes the data directory.
func (lc *localCluster) initdb() error {
	out, err := lc.command("initdb", append([]string{"-D", lc.data}, initdbArgs...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("trial: local: initdb in %s failed: %w\n%s", lc.binDir, err, tail(out, 2000))
	}
	return nil
}

// start starts the postmaster on a free port, trying three: a free port
// can be taken between probing and binding. note ends the server's
// description.
func (lc *localCluster) start(ctx context.Context, note string) (*server, error) {
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		srv, err := lc.startPostmaster(ctx, port)
		if err == nil {
			srv.where = fmt.Sprintf("ephemeral cluster from %s in %s on 127.0.0.1:%d", lc.binDir, lc.dir, port) + note
			return srv, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// postmasterArgs are the settings of an ephemeral cluster: made for
// throwaway data and many short connections.
func (lc *localCluster) postmasterArgs(port int) []string {
	args := []string{"-D", lc.data, "-p", strconv.Itoa(port), "-k", lc.dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=256MB",
		"-c", "max_locks_per_transaction=256", "-c", "max_wal_size=256MB",
		"-c", "log_min_messages=warning"}
	if scratch.InMemory(lc.data) {
		// Dynamic shared memory as files in the data directory, which is in
		// memory anyway, instead of /dev/shm/PostgreSQL.*: a server killed
		// outright (kill -9 of the process group: a CI job's timeout) can
		// remove nothing, and what it leaves is removed with its directory
		// (by reapLocalDirs), not kept in memory until the machine reboots.
		args = append(args, "-c", "dynamic_shared_memory_type=mmap")
	}
	return args
}

// startPostmaster starts the postmaster on port and waits until it
// answers there (30 s at most).
func (lc *localCluster) startPostmaster(ctx context.Context, port int) (*server, error) {
	dir, data := lc.dir, lc.data
	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("trial: local: %w", err)
	}
	if lc.cred != nil {
		_ = logFile.Chown(int(lc.cred.Uid), int(lc.cred.Gid))
	}
	cmd := lc.command("postgres", lc.postmasterArgs(port)...)
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT // no orphaned server if the harness is killed
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("trial: local: start postgres: %w", err)
	}
	exited := make(chan struct{}) // closed once the postmaster is reaped
	var waitErr error
	go func() { waitErr = cmd.Wait(); logFile.Close(); close(exited) }()

	tcpURL := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	halt := func() {
		// Through os.Process, which does not signal a postmaster it has
		// reaped (one killed outright): its pid may be another process's by
		// now, such as another cluster's postmaster, which SIGINT would
		// shut down. Pids wrap within minutes where pid_max is 32768.
		_ = cmd.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // not reaped yet: the group is its own
			<-exited
		}
	}
	stop := func(context.Context) error {
		halt()
		return os.RemoveAll(dir)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("trial: local: postgres exited on port %d: %v\n%s", port, waitErr, tail(log, 2000))
		default:
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgx.Connect(cctx, tcpURL)
		var answering string
		if err == nil {
			err = conn.QueryRow(cctx, "SHOW data_directory").Scan(&answering)
			conn.Close(ctx)
		}
		cancel()
		switch {
		case err == nil && sameDir(answering, data):
			return &server{way: WayLocal, url: socketURL(dir, port, tcpURL), stop: stop}, nil
		case err == nil:
			// Another cluster took the port between freePort and this
			// postmaster's bind (this one exits: it cannot bind), and it
			// answers: the caller tries another port.
			halt()
			return nil, fmt.Errorf("trial: local: port %d answers for another server (%s)", port, answering)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			_ = stop(ctx)
			return nil, fmt.Errorf("trial: local: postgres did not accept connections on port %d: %w", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// socketURL is the connection string of the cluster's Unix-domain socket
// in dir, or tcpURL when there is no socket there (a path too long for
// one). The harness talks to its own cluster through the socket: a
// message costs the kernel less than over loopback TCP (7-11% more trials
// per second), and nothing but this cluster can answer there. The
// loopback port stays open, and is checked first: it is how the cluster
// is told from another that took the port.
func socketURL(dir string, port int, tcpURL string) string {
	st, err := os.Stat(filepath.Join(dir, ".s.PGSQL."+strconv.Itoa(port)))
	if err != nil || st.Mode()&os.ModeSocket == 0 {
		return tcpURL
	}
	q := url.Values{"host": {dir}, "port": {strconv.Itoa(port)}, "sslmode": {"disable"}}
	return "postgres://postgres@/postgres?" + q.Encode()
}

// sameDir reports whether a and b name the same existing directory.
func sameDir(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}

// unprivilegedCredential returns nil when not root, else the credential of
// the postgres system user, or of nobody.
func unprivilegedCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
	}
	return nil, errors.New("trial: local: running as root, and PostgreSQL refuses root, but there is neither a postgres nor a nobody user to run it as; create one (useradd --system postgres)")
}

// freePort is a loopback port nothing listens on right now (another
// process may take it before the postmaster binds it); a variable so that
// a test can hand out a taken one.
var freePort = func() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("trial: local: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// reapLocalDirs removes the directories of ephemeral clusters whose server
// is gone (a harness killed before it could clean up).
func reapLocalDirs() {
	var dirs []string
	for _, parent := range scratch.Dirs() {
		found, _ := filepath.Glob(filepath.Join(parent, localDirPrefix+"*"))
		dirs = append(dirs, found...)
	}
	for _, d := range dirs {
		st, err := os.Stat(d)
		if err != nil || time.Since(st.ModTime()) < time.Minute {
			continue // being created right now, perhaps by another process
		}
		pid, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid"))
		if err == nil {
			first, _, _ := bytes.Cut(pid, []byte("\n"))
			if n, err := strconv.Atoi(string(first)); err == nil && syscall.Kill(n, 0) == nil {
				continue // its server is still running
			}
		}
		_ = os.RemoveAll(d)
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
