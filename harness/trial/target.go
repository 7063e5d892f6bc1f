package trial

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/idemcheck/idemcheck/faults"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Way names where a Target's PostgreSQL comes from.
type Way string

// The ways of getting a PostgreSQL, in the order OpenTarget tries them.
const (
	WayURL    Way = "url"    // an existing server named by IDEMCHECK_DATABASE_URL
	WayLocal  Way = "local"  // an ephemeral cluster started from local binaries
	WayDocker Way = "docker" // a container started by testcontainers-go
)

// Environment variables that steer OpenTarget.
const (
	// EnvDatabaseURL names an existing server to test on.
	EnvDatabaseURL = "IDEMCHECK_DATABASE_URL"
	// EnvTarget forces one way: url, local or docker.
	EnvTarget = "IDEMCHECK_TARGET"
	// EnvPGBinDir names the directory of initdb and postgres for the local way.
	EnvPGBinDir = "IDEMCHECK_PG_BINDIR"
	// EnvDockerImage overrides the image of the docker way.
	EnvDockerImage = "IDEMCHECK_DOCKER_IMAGE"
	// EnvReapAfter overrides how old an orphaned sandbox must be before it is
	// reaped (a Go duration such as "10m").
	EnvReapAfter = "IDEMCHECK_REAP_AFTER"
	// EnvWriterRole names an existing role writers log in as, instead of
	// the run's own least-privilege role (see WriterRole).
	EnvWriterRole = "IDEMCHECK_WRITER_ROLE"
	// EnvWriterPassword is the password of EnvWriterRole, if it needs one.
	EnvWriterPassword = "IDEMCHECK_WRITER_PASSWORD"
)

// DefaultDockerImage is the image of the docker way unless overridden.
const DefaultDockerImage = "postgres:16-alpine"

// DefaultReapAfter is how old a sandbox of a run that is no longer alive must
// be before a later run drops it.
const DefaultReapAfter = 10 * time.Minute

// Target is a PostgreSQL server to run trials on, and the run that owns the
// sandboxes created on it. It is safe for concurrent use.
//
// A Target never drops or alters anything it did not create: every object it
// creates carries the prefix SandboxPrefix and its run id.
type Target struct {
	way        Way
	version    string
	versionNum int    // server_version_num, e.g. 150019
	where      string // human description of the server
	config     *pgx.ConnConfig
	admin      *pgxpool.Pool
	run        *run
	stop       func(context.Context) error // stops the server the Target started, if any
	reaped     int
	proxyMu    sync.Mutex
	proxy      *faults.Proxy
	closeMu    sync.Mutex
	closed     bool
}

// TargetOption configures OpenTarget.
type TargetOption func(*targetConfig)

type targetConfig struct {
	way         Way
	url         string
	binDir      string
	dockerImage string
	reapAfter   time.Duration
	signals     bool
	logf        func(format string, args ...any)
	writerRole  string
	writerPw    string
}

// ByWay forces one way of getting PostgreSQL instead of the chain.
func ByWay(w Way) TargetOption { return func(c *targetConfig) { c.way = w } }

// URL makes the target an existing server; it implies ByWay(WayURL).
func URL(url string) TargetOption {
	return func(c *targetConfig) { c.url, c.way = url, WayURL }
}

// PGBinDir names the directory holding initdb and postgres for WayLocal.
func PGBinDir(dir string) TargetOption { return func(c *targetConfig) { c.binDir = dir } }

// DockerImage sets the image used by WayDocker.
func DockerImage(image string) TargetOption {
	return func(c *targetConfig) { c.dockerImage = image }
}

// ReapAfter sets how old an orphaned sandbox must be before it is reaped.
func ReapAfter(d time.Duration) TargetOption { return func(c *targetConfig) { c.reapAfter = d } }

// WriterRole makes writers log in as an existing role (with password,
// if the server asks for one) instead of the run's own role. Use it when a
// writer truly needs more than its sandbox: an extension, a schema of
// reference data. The harness still creates each sandbox owned by that
// role, and never drops or alters the role itself; reports name it.
func WriterRole(name, password string) TargetOption {
	return func(c *targetConfig) { c.writerRole, c.writerPw = name, password }
}

// NoSignalHandling stops the Target from cleaning up on SIGINT,
// SIGTERM, SIGHUP and SIGPIPE; the caller then must call Close on every
// path.
func NoSignalHandling() TargetOption { return func(c *targetConfig) { c.signals = false } }

// Logf receives progress lines (which way was tried, why one was skipped).
func Logf(logf func(format string, args ...any)) TargetOption {
	return func(c *targetConfig) { c.logf = logf }
}

// ErrNoPostgres is wrapped by the error OpenTarget returns when no way of
// getting a PostgreSQL applies.
var ErrNoPostgres = errors.New("no PostgreSQL available")

// OpenTarget finds or starts a PostgreSQL, the first way that applies:
//
//  1. IDEMCHECK_DATABASE_URL (or URL): that existing server;
//  2. PostgreSQL server binaries (IDEMCHECK_PG_BINDIR, PATH, pg_config
//     --bindir, /usr/lib/postgresql/*/bin): an ephemeral cluster in a
//     temporary directory (in memory when there is room, see startLocal),
//     run as an unprivileged user when the caller is root;
//  3. a reachable Docker engine: a container from testcontainers-go.
//
// IDEMCHECK_TARGET (or ByWay) forces one way. Sandboxes and roles of
// earlier runs that were killed are reaped once they are older than the
// reap threshold. Unless NoSignalHandling is given, SIGINT, SIGTERM,
// SIGHUP and SIGPIPE drop every sandbox and the role of the run and stop
// any server it started before the process dies of the signal.
func OpenTarget(ctx context.Context, opts ...TargetOption) (*Target, error) {
	cfg := targetConfig{
		url:         os.Getenv(EnvDatabaseURL),
		binDir:      os.Getenv(EnvPGBinDir),
		dockerImage: os.Getenv(EnvDockerImage),
		reapAfter:   DefaultReapAfter,
		signals:     true,
		logf:        func(string, ...any) {},
		writerRole:  os.Getenv(EnvWriterRole),
		writerPw:    os.Getenv(EnvWriterPassword),
	}
	if w := os.Getenv(EnvTarget); w != "" {
		cfg.way = Way(strings.ToLower(strings.TrimSpace(w)))
	}
	if s := os.Getenv(EnvReapAfter); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("trial: %s=%q is not a duration such as 10m: %w", EnvReapAfter, s, err)
		}
		cfg.reapAfter = d
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.dockerImage == "" {
		cfg.dockerImage = DefaultDockerImage
	}

	srv, err := findServer(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	t, err := attach(ctx, srv, &cfg)
	if err != nil {
		if srv.stop != nil {
			_ = srv.stop(context.WithoutCancel(ctx))
		}
		return nil, err
	}
	if cfg.signals {
		watchSignals(t)
	}
	return t, nil
}

// server is what a way produced: a connection string for an administrative
// connection, and how to stop the server if the way started it.
type server struct {
	way   Way
	url   string
	where string
	stop  func(context.Context) error
}

func findServer(ctx context.Context, cfg *targetConfig) (*server, error) {
	switch cfg.way {
	case WayURL:
		if cfg.url == "" {
			return nil, fmt.Errorf("trial: %s=url but %s is empty; set it to a connection string such as postgres://user@127.0.0.1:5432/db", EnvTarget, EnvDatabaseURL)
		}
		return urlServer(ctx, cfg.url)
	case WayLocal:
		return startLocal(ctx, cfg)
	case WayDocker:
		return startDocker(ctx, cfg)
	case "":
	default:
		return nil, fmt.Errorf("trial: %s=%q is not a way; use url, local or docker (or unset it to try each in turn)", EnvTarget, cfg.way)
	}

	if cfg.url != "" {
		return urlServer(ctx, cfg.url)
	}
	var whyNot []string
	if _, err := findPGBinDir(cfg.binDir); err != nil {
		whyNot = append(whyNot, err.Error())
		cfg.logf("local: %v", err)
	} else {
		return startLocal(ctx, cfg)
	}
	if err := dockerHealthy(ctx); err != nil {
		whyNot = append(whyNot, "docker: no engine reachable: "+err.Error())
		cfg.logf("docker: %v", err)
	} else {
		return startDocker(ctx, cfg)
	}
	return nil, fmt.Errorf(`trial: %w; idemcheck needs a real PostgreSQL, from one of:
  1. an existing server: export %s=postgres://user:password@host:5432/dbname
  2. local PostgreSQL server binaries (initdb, postgres): e.g. apt-get install postgresql,
     or point %s at their directory
  3. a Docker engine that testcontainers-go can reach (DOCKER_HOST), image %s (or %s)
what was tried: %s`, ErrNoPostgres, EnvDatabaseURL, EnvPGBinDir, cfg.dockerImage, EnvDockerImage, strings.Join(whyNot, "; "))
}

func urlServer(ctx context.Context, url string) (*server, error) {
	if _, err := pgx.ParseConfig(url); err != nil {
		return nil, fmt.Errorf("trial: %s is not a valid connection string (want postgres://user:password@host:port/dbname): %w", EnvDatabaseURL, err)
	}
	return &server{way: WayURL, url: url, where: "existing server " + redact(url)}, nil
}

// attach opens the administrative pool, reads the server version, starts the
// run and reaps what killed runs left behind.
func attach(ctx context.Context, srv *server, cfg *targetConfig) (*Target, error) {
	pcfg, err := pgxpool.ParseConfig(srv.url)
	if err != nil {
		return nil, fmt.Errorf("trial: parse connection string of the %s target: %w", srv.way, err)
	}
	pcfg.MaxConns = adminConns()
	pcfg.ConnConfig.RuntimeParams["application_name"] = "idemcheck"
	for k, v := range canonicalParams {
		pcfg.ConnConfig.RuntimeParams[k] = v
	}
	pcfg.AfterConnect = planOnce
	connectCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(connectCtx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("trial: connect to %s: %w", srv.where, err)
	}
	var version string
	var versionNum int
	if err := pool.QueryRow(connectCtx, "SELECT current_setting('server_version'), current_setting('server_version_num')::int").Scan(&version, &versionNum); err != nil {
		pool.Close()
		return nil, fmt.Errorf("trial: cannot reach %s: %w", srv.where, err)
	}
	if i := strings.IndexByte(version, ' '); i > 0 {
		version = version[:i]
	}
	t := &Target{
		way:        srv.way,
		version:    version,
		versionNum: versionNum,
		where:      srv.where,
		config:     pcfg.ConnConfig,
		admin:      pool,
		stop:       srv.stop,
	}
	t.run, err = startRun(connectCtx, t)
	if err != nil {
		pool.Close()
		return nil, err
	}
	n, err := t.reap(connectCtx, cfg.reapAfter)
	if err == nil {
		t.reaped = n
		err = t.run.startRole(connectCtx, t, cfg.writerRole, cfg.writerPw)
	}
	if err != nil {
		t.run.end(context.WithoutCancel(ctx), t)
		pool.Close()
		return nil, err
	}
	return t, nil
}

// ErrTargetGone is wrapped by the errors of a run whose server went away
// or restarted under it: no verdict of such a run can be trusted.
var ErrTargetGone = errors.New("the PostgreSQL server went away or restarted during the run")

// Alive reports whether the server is still the one the run started on:
// the run's own connection, which holds its liveness lock from the start,
// still answers. A server that restarted (or crashed and recovered) ended
// that connection. The error wraps ErrTargetGone and names the server; it
// is ErrClosed once this process closed the target.
func (t *Target) Alive(ctx context.Context) error {
	t.run.lockMu.Lock()
	err := t.run.lock.Ping(ctx)
	t.run.lockMu.Unlock()
	if err == nil {
		return nil
	}
	t.closeMu.Lock()
	closed := t.closed
	t.closeMu.Unlock()
	if closed {
		return ErrClosed // closed by this process (Close, or a signal): the server is fine
	}
	why := "restarted, or ended the run's connections"
	if perr := t.admin.Ping(ctx); perr != nil {
		why = "is unreachable: " + perr.Error()
	}
	return fmt.Errorf("%w: %s %s (the run's own connection: %v)", ErrTargetGone, t.where, why, err)
}

// Proxy is the fault proxy in front of the target's server.
func (t *Target) Proxy() *faults.Proxy {
	t.proxyMu.Lock()
	defer t.proxyMu.Unlock()
	if t.proxy == nil {
		t.proxy = faults.New(pgconn.NetworkAddress(t.config.Host, t.config.Port))
		t.proxy.EnablePool(32)
	}
	return t.proxy
}

// Way reports where the server came from.
func (t *Target) Way() Way { return t.way }

// ServerVersion reports the server's version, e.g. "15.19".
func (t *Target) ServerVersion() string { return t.version }

// major is the server's major version, e.g. 15.
func (t *Target) major() int {
	major, _, _ := strings.Cut(t.version, ".")
	n, _ := strconv.Atoi(major)
	return n
}

// String describes the target for reports, without passwords.
func (t *Target) String() string {
	return fmt.Sprintf("%s: PostgreSQL %s, %s, writers as %s", t.way, t.version, t.where, t.WriterRole())
}

// WriterRole names the role every writer connection logs in as: the run's
// own least-privilege role ("idemcheck_..._0 (this run's own)") or the one
// WriterRole named ("NAME (given)").
func (t *Target) WriterRole() string {
	if t.run.role.own {
		return t.run.role.name + " (this run's own, least privilege)"
	}
	return t.run.role.name + " (given)"
}

// RunID is the id this run's sandboxes carry in their names.
func (t *Target) RunID() string { return t.run.id }

// Reaped reports how many sandboxes of earlier, dead runs OpenTarget dropped.
func (t *Target) Reaped() int { return t.reaped }

// ConnConfig returns a copy of the administrative connection configuration
// (the database the target was opened on, no sandbox selected).
func (t *Target) ConnConfig() *pgx.ConnConfig { return t.config.Copy() }

// ConnString is the administrative connection as a URL (password included):
// what a child process needs to reach the same server with URL.
func (t *Target) ConnString() string { return connString(t.config, "") }

// SpareConnections is how many more connections the server accepts from
// users that are not superusers: max_connections less the reserved ones
// and those open now (this run's included).
func (t *Target) SpareConnections(ctx context.Context) (int, error) {
	var n int
	err := t.admin.QueryRow(ctx, `SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int
		- (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("trial: count the server's spare connections: %w", err)
	}
	return n, nil
}

// Admin is the administrative pool. Tests and tools may read with it; writers
// must use their sandbox's connection instead. Its connections keep one
// plan per prepared statement (see planOnce).
func (t *Target) Admin() *pgxpool.Pool { return t.admin }

// Close drops every sandbox of the run that is not kept, ends the run and
// stops the server if the Target started it. Kept sandboxes survive on a URL
// target (so they can be inspected) and are reaped by a later run. Close is
// idempotent.
func (t *Target) Close() error {
	t.closeMu.Lock()
	defer t.closeMu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	unwatchSignals(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.proxyMu.Lock()
	if t.proxy != nil {
		t.proxy.Close()
	}
	t.proxyMu.Unlock()
	err := t.run.end(ctx, t)
	t.admin.Close()
	if t.stop != nil {
		err = errors.Join(err, t.stop(ctx))
	}
	return err
}

// canonicalParams make the text form of values independent of the server's
// and the user's settings, so that snapshots compare by value.
var canonicalParams = map[string]string{
	"TimeZone":           "UTC",
	"DateStyle":          "ISO, MDY",
	"IntervalStyle":      "postgres",
	"extra_float_digits": "1",
	"bytea_output":       "hex",
}

// adminConns is the size of the administrative pool: one connection per
// CPU and one more, at most 8. Every sandbox created or dropped (CREATE or
// DROP SCHEMA, anywhere on the server) makes every backend throw away its
// cached plans, so each administrative connection plans the catalog
// signature and the snapshot's catalog query again the next time it runs
// them (2 to 10 ms each); the fewer connections, the fewer plans. With 8
// connections on 2 CPUs the properties tests spent 70 to 82 s of the
// server's time planning, with 3 about 43 s, and used 8% less CPU; one
// check (BenchmarkCertify) ran as fast with either.
func adminConns() int32 {
	return int32(min(8, runtime.GOMAXPROCS(0)+1))
}

// planOnce makes an administrative connection keep one plan per prepared
// statement (plan_cache_mode, PostgreSQL 12 and later; older servers are
// left as they are). The harness's own statements are catalog queries that
// a run executes thousands of times, each time for another sandbox; left
// to choose, the server planned the check after a restore's VACUUM at every
// execution, and planning the catalog signature and the snapshot's catalog
// query (seven catalogs joined) cost more than running them. Their generic
// plans are the same index lookups. A plan is still made again after the
// catalogs change (a schema created or dropped). A writer's connections
// are not touched.
func planOnce(ctx context.Context, conn *pgx.Conn) error {
	version := conn.PgConn().ParameterStatus("server_version")
	major, err := strconv.Atoi(version[:strings.IndexFunc(version+" ", func(r rune) bool { return r < '0' || r > '9' })])
	if err != nil || major < 12 {
		return nil
	}
	_, err = conn.Exec(ctx, "SET plan_cache_mode = force_generic_plan")
	return err
}

// redact hides the password of a connection string.
func redact(url string) string {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return "(unparsable connection string)"
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}
