package trial

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/idemcheck/idemcheck/internal/scratch"
	"github.com/jackc/pgx/v5"
)

func TestLocalClusterAsCurrentUser(t *testing.T) {
	ctx := context.Background()
	tg, err := OpenTarget(ctx, ByWay(WayLocal), NoSignalHandling())
	if err != nil {
		t.Fatal(err)
	}
	dir := localDir(t, tg)
	if tg.Way() != WayLocal || tg.ServerVersion() == "" {
		t.Errorf("way %s version %q, want local and a version", tg.Way(), tg.ServerVersion())
	}
	if tg.config.Host != dir {
		t.Errorf("the harness reaches its cluster at %q, want the socket in the cluster's directory %s", tg.config.Host, dir)
	}
	if again, err := pgx.ParseConfig(tg.ConnString()); err != nil || again.Host != dir || again.Port != tg.config.Port {
		t.Errorf("ConnString %q names another server (%v)", tg.ConnString(), err)
	}
	var user string
	if err := tg.Admin().QueryRow(ctx, "SELECT usename FROM pg_stat_activity WHERE backend_type = 'checkpointer' OR pid = pg_backend_pid() LIMIT 1").Scan(&user); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	owner := st.Sys().(*syscall.Stat_t).Uid
	if os.Geteuid() == 0 && owner == 0 {
		t.Errorf("as root, the data directory must belong to an unprivileged user, got uid 0")
	}
	if os.Geteuid() != 0 && int(owner) != os.Geteuid() {
		t.Errorf("data directory owned by uid %d, want the caller %d", owner, os.Geteuid())
	}
	useTarget(t, tg)
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cluster directory %s still there after Close: %v", dir, err)
	}
}

// TestKilledLocalClusterLeavesNothingInSharedMemory checks that an
// ephemeral cluster in memory keeps its dynamic shared memory in its data
// directory: a postmaster killed outright (kill -9, which nothing can
// clean up after) leaves no /dev/shm/PostgreSQL.* segments, only files in
// the directory Close (or the next run's reaper) removes.
func TestKilledLocalClusterLeavesNothingInSharedMemory(t *testing.T) {
	ctx := context.Background()
	tg, err := OpenTarget(ctx, ByWay(WayLocal), NoSignalHandling())
	if err != nil {
		t.Fatal(err)
	}
	dir := localDir(t, tg)
	if !scratch.InMemory(dir) {
		tg.Close()
		if os.Getenv("IDEMCHECK_REQUIRE_TMPFS") != "" {
			t.Fatalf("the cluster is in %s, not in memory, and IDEMCHECK_REQUIRE_TMPFS is set", dir)
		}
		t.Skipf("the cluster is in %s, not in memory (no roomy tmpfs here): it keeps PostgreSQL's default shared memory; .ci/run sets IDEMCHECK_REQUIRE_TMPFS=1, so in CI it runs or fails", dir)
	}
	var kind, file string
	if err := tg.Admin().QueryRow(ctx, "SELECT current_setting('dynamic_shared_memory_type'), pg_read_file('postmaster.pid')").Scan(&kind, &file); err != nil {
		t.Fatal(err)
	}
	if kind != "mmap" {
		t.Errorf("dynamic_shared_memory_type = %s, want mmap (files in the data directory)", kind)
	}
	segments, _ := filepath.Glob(filepath.Join(dir, "data", "pg_dynshmem", "mmap.*"))
	if len(segments) == 0 {
		t.Errorf("no dynamic shared memory segment in %s/data/pg_dynshmem", dir)
	}
	first, _, _ := strings.Cut(file, "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = tg.Close()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cluster directory %s still there after Close: %v", dir, err)
	}
}

// TestLocalClusterNeverTakesAnotherServerForItsOwn hands the ephemeral
// cluster a port another server listens on (the tests' shared one), as
// when another process takes the free port before the postmaster binds
// it: the postmaster cannot bind it, the other server answers, and the
// harness must see it is not its own and try another port, never run
// trials on a stranger's server (whose owner may stop it at any moment).
func TestLocalClusterNeverTakesAnotherServerForItsOwn(t *testing.T) {
	// An ephemeral cluster is reached through its socket and listens on
	// 127.0.0.1 at the same port number too.
	if target.way != WayLocal && (target.config.Host == "" || strings.HasPrefix(target.config.Host, "/")) {
		t.Skipf("the shared server (IDEMCHECK_DATABASE_URL) is reached through the socket %q, and this test needs a port another server listens on: set the URL's host to 127.0.0.1, or unset it for an ephemeral cluster; .ci/run runs it both ways", target.config.Host)
	}
	taken := int(target.config.Port)
	real := freePort
	defer func() { freePort = real }()
	calls := 0
	freePort = func() (int, error) {
		calls++
		if calls == 1 {
			return taken, nil
		}
		return real()
	}
	ctx := context.Background()
	tg, err := OpenTarget(ctx, ByWay(WayLocal), NoSignalHandling())
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	if calls < 2 || tg.config.Port == uint16(taken) {
		t.Fatalf("the cluster took port %d after %d ports, %d being the shared server's", tg.config.Port, calls, taken)
	}
	var dataDir string
	if err := tg.Admin().QueryRow(ctx, "SHOW data_directory").Scan(&dataDir); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(dataDir, localDir(t, tg)) {
		t.Errorf("the target's server keeps its data in %s, not in its own directory %s", dataDir, localDir(t, tg))
	}
}

// localDir extracts the temporary directory from a local target's description.
func localDir(t *testing.T, tg *Target) string {
	t.Helper()
	for _, f := range strings.Fields(tg.String()) {
		if strings.Contains(f, localDirPrefix) {
			return f
		}
	}
	t.Fatalf("no cluster directory in %q", tg)
	return ""
}

// useTarget proves a target works end to end: a sandbox, a table, a snapshot.
func useTarget(t *testing.T, tg *Target) {
	t.Helper()
	ctx := context.Background()
	sb, err := tg.NewSandbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := sb.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	// The same table through the target's fault proxy.
	proxied, done := connectThroughProxy(t, tg, sb)
	var n int
	if err := proxied.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 2 {
		t.Fatalf("through the proxy of %s: %d rows (%v), want 2", tg, n, err)
	}
	done()
	st, err := Snapshot(ctx, sb)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Tables["t"]; got == nil || got.Count != 2 {
		t.Fatalf("snapshot through %s: %+v, want table t with 2 rows", tg, st.Tables)
	}
	if err := sb.Drop(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestURLTarget opens the shared server by URL: as ConnString gives it
// (an ephemeral cluster's is its socket) and, for an ephemeral cluster, by
// its loopback port too, so that the harness and its fault proxy are
// tried over TCP and over a Unix-domain socket.
func TestURLTarget(t *testing.T) {
	urls := map[string]string{"ConnString": target.ConnString()}
	if target.way == WayLocal {
		urls["loopback"] = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", target.config.Port)
	}
	for name, url := range urls {
		t.Run(name, func(t *testing.T) {
			tg, err := OpenTarget(context.Background(), URL(url), NoSignalHandling())
			if err != nil {
				t.Fatal(err)
			}
			defer tg.Close()
			if tg.Way() != WayURL {
				t.Errorf("way %s, want url", tg.Way())
			}
			if tg.stop != nil {
				t.Error("a URL target must never stop the server it did not start")
			}
			useTarget(t, tg)
		})
	}
}

func TestDockerTarget(t *testing.T) {
	ctx := context.Background()
	if err := dockerAvailable(ctx); err != nil {
		if os.Getenv("IDEMCHECK_REQUIRE_DOCKER") != "" {
			t.Fatalf("IDEMCHECK_REQUIRE_DOCKER is set but no Docker engine is reachable: %v", err)
		}
		t.Skipf("no Docker engine reachable (set DOCKER_HOST; .ci/run starts one): %v", err)
	}
	tg, err := OpenTarget(ctx, ByWay(WayDocker), NoSignalHandling())
	if err != nil {
		t.Fatal(err)
	}
	if tg.Way() != WayDocker {
		t.Errorf("way %s, want docker", tg.Way())
	}
	t.Logf("docker target: %s", tg)
	useTarget(t, tg)
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBadTargetsSayWhatIsWrong(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		opts []TargetOption
		want string
	}{
		{"malformed URL", []TargetOption{URL("postgres://x:y@[::1")}, "is not a valid connection string"},
		{"unreachable server", []TargetOption{URL("postgres://nobody@127.0.0.1:1/none?connect_timeout=2")}, "cannot reach existing server postgres://nobody@127.0.0.1:1/none"},
		{"unknown way", []TargetOption{ByWay("cloud")}, `"cloud" is not a way; use url, local or docker`},
		{"url way without URL", []TargetOption{URL(""), ByWay(WayURL)}, "IDEMCHECK_DATABASE_URL is empty"},
		{"bin dir without binaries", []TargetOption{ByWay(WayLocal), PGBinDir(t.TempDir())}, "holds no initdb and postgres"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := OpenTarget(ctx, append(tc.opts, NoSignalHandling())...)
			if err == nil {
				tg.Close()
				t.Fatal("OpenTarget succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestNoWayNamesAllThree(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv(EnvDatabaseURL, "")
	t.Setenv(EnvTarget, "")
	t.Setenv(EnvPGBinDir, "")
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-docker.sock"))
	t.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "")
	old := pgLibGlob
	pgLibGlob = filepath.Join(t.TempDir(), "*", "bin")
	defer func() { pgLibGlob = old }()

	_, err := OpenTarget(context.Background(), NoSignalHandling())
	if !errors.Is(err, ErrNoPostgres) {
		t.Fatalf("got %v, want ErrNoPostgres", err)
	}
	for _, want := range []string{EnvDatabaseURL, "apt-get install postgresql", "Docker engine", "no PostgreSQL server binaries", "docker: no engine reachable"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not mention %q:\n%v", want, err)
		}
	}
}

// TestCanarySurvives checks that the harness drops only what it created:
// a user's schema, and a schema that merely looks like a sandbox, survive
// sandboxes, reaping and Close.
func TestCanarySurvives(t *testing.T) {
	ctx := context.Background()
	admin := target.Admin()
	canaries := []string{"canary_schema", SandboxPrefix + "not_a_sandbox", SandboxPrefix + "cafebabe_0000000001_x"}
	for _, c := range canaries {
		if _, err := admin.Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %[1]s; CREATE TABLE %[1]s.keep (v text); INSERT INTO %[1]s.keep VALUES ('precious')`, quote(c))); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for _, c := range canaries {
			_, _ = admin.Exec(ctx, "DROP SCHEMA "+quote(c)+" CASCADE")
		}
	}()

	other, err := OpenTarget(ctx, URL(target.ConnString()), ReapAfter(0), NoSignalHandling())
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		sb, err := other.NewSandbox(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Exec(ctx, "CREATE TABLE "+quote(sb.Name())+".t (id int)"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := other.reap(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range canaries {
		var v string
		if err := admin.QueryRow(ctx, "SELECT v FROM "+quote(c)+".keep").Scan(&v); err != nil || v != "precious" {
			t.Errorf("canary %s damaged: %q, %v", c, v, err)
		}
	}
	if n := countSandboxes(t, other.RunID()); n != 0 {
		t.Errorf("%d sandboxes of the closed run are left", n)
	}
}

// TestVacuumSQL checks the restore's VACUUM: from PostgreSQL 16 on it
// skips the database-wide XID statistics, before it does not (the option
// does not exist there), and what it builds for this server runs here.
func TestVacuumSQL(t *testing.T) {
	for _, tc := range []struct {
		num  int
		want string
	}{
		{150019, `VACUUM (ANALYZE) a."t", b`},
		{160000, `VACUUM (ANALYZE, SKIP_DATABASE_STATS) a."t", b`},
		{170012, `VACUUM (ANALYZE, SKIP_DATABASE_STATS) a."t", b`},
	} {
		if got := vacuumSQL([]string{`a."t"`, "b"}, tc.num); got != tc.want {
			t.Errorf("server %d: %s, want %s", tc.num, got, tc.want)
		}
	}
	sb := sandbox(t)
	execSQL(t, sb, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1); DELETE FROM t")
	sql := vacuumSQL([]string{fmt.Sprintf("%q.t", sb.Name())}, target.versionNum)
	if _, err := target.Admin().Exec(context.Background(), sql); err != nil {
		t.Fatalf("PostgreSQL %s: %s: %v", target.ServerVersion(), sql, err)
	}
}

// TestAdminConnectionsPlanOnce: the harness's own connections keep one
// plan per prepared statement (the catalog queries it runs for every
// trial); a writer's connections keep the server's choice.
func TestAdminConnectionsPlanOnce(t *testing.T) {
	ctx := context.Background()
	var mode string
	if err := target.Admin().QueryRow(ctx, "SHOW plan_cache_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "force_generic_plan" {
		t.Errorf("the harness's connections: plan_cache_mode %s, want force_generic_plan", mode)
	}
	sb := sandbox(t)
	conn, err := sb.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var def string
	if err := conn.QueryRow(ctx, "SELECT reset_val FROM pg_settings WHERE name = 'plan_cache_mode'").Scan(&def); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SHOW plan_cache_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != def {
		t.Errorf("a writer's connection: plan_cache_mode %s, want the server's %s", mode, def)
	}
}
