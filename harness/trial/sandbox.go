package trial

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// SandboxPrefix starts the name of every schema and database the harness
// creates. Nothing without it is ever dropped or altered by the harness.
const SandboxPrefix = "idemcheck_"

// sandboxName matches SandboxPrefix + run id + creation time (unix seconds) +
// sequence number within the run (a schema name a run takes again keeps
// the time it was first created at).
var sandboxName = regexp.MustCompile(`^idemcheck_([0-9a-f]{8})_([0-9]{10})_([0-9]+)$`)

// SandboxMode says how a trial is isolated.
type SandboxMode int

const (
	// SchemaSandbox gives a trial its own schema; every connection of the
	// trial has search_path set to it. Fast: a few milliseconds.
	SchemaSandbox SandboxMode = iota
	// DatabaseSandbox gives a trial its own database, cloned from
	// template0. Stronger isolation:
	// the writer may create schemas, extensions and so on.
	DatabaseSandbox
)

func (m SandboxMode) String() string {
	if m == DatabaseSandbox {
		return "database"
	}
	return "schema"
}

// SandboxOption configures NewSandbox.
type SandboxOption func(*sandboxConfig)

type sandboxConfig struct {
	mode SandboxMode
}

// Mode selects schema (default) or database isolation.
func Mode(m SandboxMode) SandboxOption { return func(c *sandboxConfig) { c.mode = m } }

// ErrClosed is what NewSandbox and Alive return once their Target is
// closing or closed (Close was called, or a signal ended the run).
var ErrClosed = errors.New("trial: the target is closed (the run was interrupted, or Close was called)")

// Sandbox is one trial's private namespace on a Target: a schema or a
// database. It is safe for concurrent use.
type Sandbox struct {
	t    *Target
	name string
	mode SandboxMode
	// config reaches the sandbox as the target's user (snapshots); writer
	// as the run's writer role (everything a writer does).
	config, writer *pgx.ConnConfig

	reuse *Reuse    // Release gives the sandbox back to it (nil: Release drops)
	base  *baseline // what Setup left, for reuse's restore

	mu      sync.Mutex
	conn    *pgx.Conn // lazily opened for snapshots of a DatabaseSandbox
	kept    bool
	dropped bool
	// released: Release gave the schema back to its Reuse, and a later
	// run reaches it through another Sandbox; this one no longer owns it,
	// and every use of it fails or does nothing (so a stale reference can
	// neither drop nor read another run's sandbox).
	released bool
}

// errReleased is what reading a released sandbox's live tables returns.
var errReleased = errors.New("trial: the sandbox was released for reuse; its state is gone")

// NewSandbox creates a fresh, empty sandbox for one trial (ErrClosed once
// the Target is closing: a closing run creates nothing it would not drop).
// A schema sandbox may take the name of one this run dropped earlier
// (Drop): the schema is new and empty, and a run's sandbox is dropped
// only once its connections are done; only the name, which a writer's
// connections carry in their startup, is the same, so that the fault
// proxy's pooled backends serve it. Sandboxes alive at the same time
// never share a name.
func (t *Target) NewSandbox(ctx context.Context, opts ...SandboxOption) (*Sandbox, error) {
	var cfg sandboxConfig
	for _, o := range opts {
		o(&cfg)
	}
	r := t.run
	r.mu.Lock()
	if r.ending {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	r.creating.Add(1)
	defer r.creating.Done()
	var name string
	if n := len(r.vacant); n > 0 && cfg.mode == SchemaSandbox {
		name, r.vacant = r.vacant[n-1], r.vacant[:n-1]
	} else {
		r.seq++
		name = fmt.Sprintf("%s%s_%d_%d", SandboxPrefix, r.id, time.Now().Unix(), r.seq)
	}
	s := &Sandbox{t: t, name: name, mode: cfg.mode, config: t.config.Copy()}
	r.sandboxes[name] = s // registered first, so a signal mid-create still drops it
	r.mu.Unlock()

	owner := quote(r.role.name)
	var err error
	if cfg.mode == DatabaseSandbox {
		sql := "CREATE DATABASE " + quote(name) + " OWNER " + owner + " TEMPLATE template0"
		if t.major() >= 15 {
			sql += " STRATEGY file_copy" // WAL-logging a small template costs more than copying its files
		}
		_, err = t.admin.Exec(ctx, sql)
		s.config.Database = name
	} else {
		_, err = t.admin.Exec(ctx, "CREATE SCHEMA "+quote(name)+" AUTHORIZATION "+owner)
		s.config.RuntimeParams["search_path"] = quote(name)
	}
	s.writer = s.config.Copy()
	s.writer.User, s.writer.Password = r.role.name, r.role.password
	delete(s.writer.RuntimeParams, "application_name")
	if err != nil {
		r.mu.Lock()
		delete(r.sandboxes, name)
		r.mu.Unlock()
		return nil, fmt.Errorf("trial: create %s sandbox %s: %w", cfg.mode, name, err)
	}
	return s, nil
}

// Name is the schema or database name.
func (s *Sandbox) Name() string { return s.name }

// Mode reports how the sandbox isolates its trial.
func (s *Sandbox) Mode() SandboxMode { return s.mode }

// Target is the server the sandbox lives on.
func (s *Sandbox) Target() *Target { return s.t }

// String says where to find the sandbox, for reports.
func (s *Sandbox) String() string {
	return fmt.Sprintf("%s %s in database %s at %s:%d", s.mode, s.name, s.t.config.Database, s.t.config.Host, s.t.config.Port)
}

// ConnConfig returns the writer's connection configuration: it lands in
// the sandbox (search_path or database set, TimeZone UTC) as the run's
// writer role, which owns the sandbox and nothing else. The caller owns
// the copy.
func (s *Sandbox) ConnConfig() *pgx.ConnConfig { return s.writer.Copy() }

// ConnString is ConnConfig as a URL that libpq, psql and other drivers
// understand (the search_path travels in the "options" parameter).
func (s *Sandbox) ConnString() string { return s.connStringVia(s.config.Host, s.config.Port) }

// connStringVia is ConnString with another host and port, such as a fault
// proxy's listener.
func (s *Sandbox) connStringVia(host string, port uint16) string {
	c := s.writer.Copy()
	c.Host, c.Port = host, port
	opt := "-c TimeZone=UTC"
	if s.mode == SchemaSandbox {
		opt += " -c search_path=" + s.name
	}
	return connString(c, opt)
}

// connString is c as a URL, with options as its "options" parameter. A
// Unix-domain socket's directory (a host that starts with "/", as in
// libpq) travels in the "host" parameter.
func connString(c *pgx.ConnConfig, options string) string {
	u := url.URL{Scheme: "postgres", Path: "/" + c.Database}
	if c.Password != "" {
		u.User = url.UserPassword(c.User, c.Password)
	} else {
		u.User = url.User(c.User)
	}
	q := url.Values{"sslmode": {"disable"}}
	port := strconv.Itoa(int(c.Port))
	if strings.HasPrefix(c.Host, "/") {
		q.Set("host", c.Host)
		q.Set("port", port)
	} else {
		u.Host = net.JoinHostPort(c.Host, port)
	}
	if options != "" {
		q.Set("options", options)
	}
	// libpq decodes %20 but not '+' as a space in URL parameters.
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	return u.String()
}

// Connect opens a new connection into the sandbox, as the writer.
func (s *Sandbox) Connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.ConnConfig())
	if err != nil {
		return nil, fmt.Errorf("trial: connect to sandbox %s as the writer role %s: %w", s.name, s.writer.User, err)
	}
	return conn, nil
}

// queryer returns a connection able to read every table of the sandbox: the
// admin pool for a schema, a cached connection for a database.
func (s *Sandbox) queryer(ctx context.Context) (querier, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released {
		return nil, errReleased
	}
	if s.mode == SchemaSandbox {
		return s.t.admin, nil
	}
	if s.conn == nil {
		conn, err := pgx.ConnectConfig(ctx, s.config.Copy())
		if err != nil {
			return nil, fmt.Errorf("trial: connect to sandbox %s: %w", s.name, err)
		}
		s.conn = conn
	}
	return s.conn, nil
}

// Keep marks the sandbox to be left in place for inspection: Drop, Release
// and Close skip it. A later run reaps it once it is older than the reap
// threshold. A sandbox already dropped or released stays so (Kept is
// false).
func (s *Sandbox) Keep() {
	s.mu.Lock()
	s.kept = !s.released && !s.dropped // what is gone cannot be kept
	s.mu.Unlock()
}

// Unkeep undoes Keep, so Drop and Close drop the sandbox again.
func (s *Sandbox) Unkeep() {
	s.mu.Lock()
	s.kept = false
	s.mu.Unlock()
}

// Kept reports whether Keep was called.
func (s *Sandbox) Kept() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kept
}

// Drop removes the sandbox and everything in it, unless it is kept. It is
// idempotent; connections still open into a database sandbox are ended.
// A dropped schema sandbox's name goes to the run's next schema sandbox
// (see NewSandbox): close the connections opened into it (Connect) first,
// or they reach that next sandbox.
func (s *Sandbox) Drop(ctx context.Context) error {
	s.mu.Lock()
	if s.kept || s.dropped || s.released {
		s.mu.Unlock()
		return nil
	}
	s.dropped = true
	conn := s.conn
	s.conn = nil
	s.mu.Unlock()
	if conn != nil {
		conn.Close(ctx)
	}
	err := dropSandbox(ctx, s.t.admin, s.mode, s.name)
	r := s.t.run
	r.mu.Lock()
	delete(r.sandboxes, s.name)
	if err == nil && s.mode == SchemaSandbox && !r.ending {
		r.vacant = append(r.vacant, s.name)
	}
	r.mu.Unlock()
	return err
}

// Release ends a run's use of the sandbox: a sandbox of a Reuse (Run with
// SandboxesFrom) goes back to it, to be restored to what the writer's Setup left
// in the background (and dropped if it cannot be); any other sandbox is
// dropped. A kept sandbox stays, as with Drop. Release is idempotent; once
// a sandbox went back to its Reuse, this Sandbox no longer reaches it
// (Drop, Keep and Release do nothing, reading its live tables fails): the
// next run gets the schema as a Sandbox of its own.
func (s *Sandbox) Release(ctx context.Context) error {
	s.mu.Lock()
	skip, r := s.kept || s.dropped || s.released, s.reuse
	if !skip && r != nil {
		s.released = true // from here on, the schema is r's
	}
	s.mu.Unlock()
	switch {
	case skip:
		return nil
	case r == nil:
		return s.Drop(ctx)
	}
	r.put(s)
	return nil
}

// dropAll drops sandboxes of t as Drop does, the schema sandboxes among
// them in one statement: each DROP SCHEMA is a transaction of its own and
// makes every backend on the server throw away its cached plans, so one
// for all of them (the sandboxes a Reuse kept, when it closes) costs the
// server less than one each. When that statement fails, each is dropped
// on its own.
func (t *Target) dropAll(ctx context.Context, sbs []*Sandbox) error {
	var errs []error
	var together []*Sandbox
	var names []string
	for _, s := range sbs {
		s.mu.Lock()
		ok := s.mode == SchemaSandbox && s.conn == nil && !s.kept && !s.dropped && !s.released && sandboxName.MatchString(s.name)
		s.dropped = s.dropped || ok
		s.mu.Unlock()
		if !ok {
			errs = append(errs, s.Drop(ctx))
			continue
		}
		together = append(together, s)
		names = append(names, quote(s.name))
	}
	if len(together) == 0 {
		return errors.Join(errs...)
	}
	if _, err := t.admin.Exec(ctx, "DROP SCHEMA IF EXISTS "+strings.Join(names, ", ")+" CASCADE"); err != nil {
		for _, s := range together {
			s.mu.Lock()
			s.dropped = false
			s.mu.Unlock()
			errs = append(errs, s.Drop(ctx))
		}
		return errors.Join(errs...)
	}
	r := t.run
	r.mu.Lock()
	for _, s := range together {
		delete(r.sandboxes, s.name)
		if !r.ending {
			r.vacant = append(r.vacant, s.name)
		}
	}
	r.mu.Unlock()
	return errors.Join(errs...)
}

// dropSQL is the statement that drops the sandbox name of mode.
func dropSQL(mode SandboxMode, name string) string {
	if mode == DatabaseSandbox {
		return "DROP DATABASE IF EXISTS " + quote(name) + " WITH (FORCE)"
	}
	return "DROP SCHEMA IF EXISTS " + quote(name) + " CASCADE"
}

// DropSQL is the statement that drops the sandbox by hand: for one kept
// for inspection (Keep), which a later run also reaps once this run is
// gone.
func (s *Sandbox) DropSQL() string { return dropSQL(s.mode, s.name) }

func dropSandbox(ctx context.Context, q querier, mode SandboxMode, name string) error {
	if !sandboxName.MatchString(name) {
		return fmt.Errorf("trial: refusing to drop %q: not a sandbox name", name)
	}
	if _, err := q.Exec(ctx, dropSQL(mode, name)); err != nil {
		return fmt.Errorf("trial: drop %s sandbox %s: %w", mode, name, err)
	}
	return nil
}

// quote quotes an SQL identifier.
func quote(name string) string { return pgx.Identifier{name}.Sanitize() }
