package trial

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Reuse keeps the schema sandboxes that runs of one writer are done with
// and brings each back to the state the writer's Setup left, so that a
// later run of the same writer (Run with SandboxesFrom) takes it instead of
// creating a sandbox and running Setup. Creating, setting up and dropping
// a sandbox is most of a small trial's database work (a new table costs
// catalog rows, files and cold caches in every backend that touches it).
//
// What a run finds in a reused sandbox is what Setup left in a fresh one:
// the same tables, columns, indexes, constraints, sequences, functions and
// types; every table empty and truncated to no pages, so rows are laid
// out in the order they are written, as in a table just created, with
// the same planner statistics (none; the first run's tables are vacuumed
// too); every sequence where Setup left it. When a sandbox is released, a
// background restore checks and empties it in one transaction: the
// sandbox's catalog signature (the identity and row version of the schema,
// the objects in it and, transitively, what depends on them: columns,
// defaults, indexes, constraints, triggers, rules, policies, sequences'
// parameters, functions, types, enum labels, casts) must still be the one
// Setup left, so any CREATE, ALTER, DROP or GRANT since is seen; then
// DELETE empties the tables, in foreign-key order, and the sequences are
// set back; then VACUUM truncates the tables, and a check that they have
// no pages and were never analyzed ends it. A signature that changed, a
// lock not granted within a second, rows that older snapshots still see
// after vacuumPatience of retries, or any other error drop the sandbox
// instead, as without reuse (and after horizonLimit such restores in a
// row, Reuse stops restoring: a long transaction on a shared server would
// make every restore wait). Only a restored sandbox can be taken.
//
// Limits: a writer whose Setup leaves rows, materialized views, foreign
// tables, row level security, DELETE triggers or rules, or foreign keys
// in a cycle is never reused (its runs get fresh sandboxes; Disabled says
// why), nor is a database sandbox. Objects of kinds the signature does
// not list (operators, collations, text search objects and the like) are
// seen when created or dropped, not when altered. A run in a reused
// sandbox shares its name with earlier runs (Env.Sandbox names the place,
// not the run; so may a fresh one, see NewSandbox), and a writer that
// TRUNCATEs its tables gives them new catalog row versions, so its
// sandboxes are dropped, not reused.
// Autovacuum may analyze a table while a run writes it, reused or not
// (a reused table lives longer, so it is likelier); a table it analyzed
// is dropped afterwards, not reused. State outside the sandbox (the
// writer role's large objects or settings) is not restored, reused or
// not.
type Reuse struct {
	t         *Target
	mu        sync.Mutex
	idle      []*Sandbox
	disabled  string // why sandboxes are not restored any more ("" while they are)
	closed    bool
	restoring sync.WaitGroup        // restores under way
	pending   int                   // restores under way whose sandbox a run may yet take (mu)
	waiting   int                   // runs in take waiting for one of them (mu)
	changed   chan struct{}         // closed (and replaced) when a restore ends (mu)
	ctx       context.Context       // the restores', cancelled by Close
	cancel    context.CancelFunc    // ends the restores under way
	horizon   int                   // restores in a row that old snapshots defeated (mu)
	patience  time.Duration         // vacuumPatience (tests shorten it)
	restored  atomic.Int64          // time spent restoring, in the background
	lastErr   atomic.Pointer[error] // why the latest sandbox was dropped, not reused
}

// NewReuse returns an empty Reuse for the runs of one writer (one Setup):
// sandboxes of writers with different Setups must not share one.
func (t *Target) NewReuse() *Reuse {
	ctx, cancel := context.WithCancel(context.Background())
	return &Reuse{t: t, ctx: ctx, cancel: cancel, patience: vacuumPatience, changed: make(chan struct{})}
}

// horizonLimit is how many restores in a row an old snapshot may defeat
// before Reuse stops trying (a long transaction on a shared server would
// otherwise keep a restore waiting for every run).
const horizonLimit = 3

// SandboxesFrom makes Run take a sandbox r keeps, when it has one (or, when two
// or more are being restored, wait for one of them), instead of creating
// one and running Setup, and makes the run's sandbox r's: the caller
// gives it back with Sandbox.Release. Runs with other sandbox options
// than the default schema sandbox are not reused.
func SandboxesFrom(r *Reuse) RunOption { return func(c *runConfig) { c.reuse = r } }

// Disabled says why r stopped restoring sandboxes, or never did ("" while
// it restores): what Setup left cannot be brought back, or old
// transactions on the server kept VACUUM from emptying tables for
// horizonLimit restores in a row.
func (r *Reuse) Disabled() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.disabled
}

// Refused is why the latest sandbox given back (or set up) could not be
// kept for reuse and was dropped (nil if none was).
func (r *Reuse) Refused() error {
	if p := r.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Close ends the restores under way and drops every sandbox r keeps or
// was restoring (those it keeps in one statement); a sandbox released
// later is dropped.
func (r *Reuse) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.restoring.Wait()
	r.mu.Lock()
	idle := r.idle
	r.idle = nil
	r.mu.Unlock()
	return r.t.dropAll(ctx, idle)
}

func (r *Reuse) disable(why string) {
	r.mu.Lock()
	if r.disabled == "" {
		r.disabled = why
	}
	idle := r.idle
	r.idle = nil
	r.mu.Unlock()
	_ = r.t.dropAll(context.Background(), idle)
}

// take returns a restored sandbox, or nil. When none is idle but two
// restores or more are under way that no other run waits for, it waits
// for one of them (or for ctx) instead: a restore costs the server less
// than a new sandbox, its Setup and, later, its own restores and its
// DROP, and without waiting, runs that follow one another while the
// server is busy (a shrinking search beside other checks) each found the
// previous runs' sandboxes still being restored and made new ones. With
// one restore under way it does not wait: a spare sandbox lets one run
// start while the previous run's is restored. It returns nil when the
// restores it could wait for end without a sandbox for it (refused, or
// taken by another run).
func (r *Reuse) take(ctx context.Context) *Sandbox {
	r.mu.Lock()
	defer r.mu.Unlock()
	waits := false
	defer func() {
		if waits {
			r.waiting--
		}
	}()
	for !r.closed {
		if n := len(r.idle); n > 0 {
			sb := r.idle[n-1]
			r.idle = r.idle[:n-1]
			return sb
		}
		if !waits && r.pending > r.waiting+1 {
			waits = true
			r.waiting++
		}
		if !waits || r.pending < r.waiting { // no restore left for this run
			return nil
		}
		changed := r.changed
		r.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
		}
		r.mu.Lock()
		if ctx.Err() != nil {
			return nil
		}
	}
	return nil
}

// restore brings sb back to its baseline, or fails: one transaction
// checks the catalog signature, empties every table (DELETE) and sets the
// sequences back; VACUUM (ANALYZE) then removes the deleted rows and
// truncates every table to no pages, so the next run starts from new
// files' physical state (rows in the order they are written, no dead
// ones) and the same planner statistics as the first run (none, zero
// rows); a last query checks that it did (VACUUM cannot remove rows an
// older snapshot on the server may still see, and autovacuum may have
// analyzed a table while it held rows).
func (r *Reuse) restore(ctx context.Context, sb *Sandbox) error {
	b := sb.base
	batch := &pgx.Batch{}
	batch.Queue("SELECT set_config('lock_timeout', '1s', true)")
	// 1/0 when the signature changed (or there is none: the schema was
	// renamed away): the error ends the transaction.
	batch.Queue("SELECT 1 / coalesce(("+signatureSQL+") = $2, false)::int", sb.name, b.signature)
	for _, t := range b.tables {
		batch.Queue("DELETE FROM " + t)
	}
	for _, s := range b.sequences {
		batch.Queue("SELECT setval($1::regclass, $2, $3)", s.name, s.last, s.isCalled)
	}
	if err := sb.t.admin.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("trial: restore %s: %w", sb.name, err)
	}
	return vacuum(ctx, sb, b, r.patience)
}

// vacuumPatience is how long a restore keeps trying to VACUUM away rows
// that older snapshots on the server still see (another trial's
// transaction, anyone's on a shared server) before it gives up.
const vacuumPatience = 5 * time.Second

// errHorizon is why VACUUM could not empty a table: an older snapshot on
// the server still sees its deleted rows.
var errHorizon = errors.New("an older transaction on the server still sees the deleted rows, so VACUUM cannot truncate the tables")

// vacuum vacuums and analyzes b's tables, then checks they have no pages
// and no statistics, as tables just created (by oid: the restore checked
// the catalog signature first, so they are the tables Setup made). VACUUM
// cannot remove rows that a transaction begun before their DELETE may
// still see, so it tries again, a little later each time, for up to
// patience before it gives up (errHorizon).
func vacuum(ctx context.Context, sb *Sandbox, b *baseline, patience time.Duration) error {
	if len(b.tables) == 0 {
		return nil
	}
	deadline := time.Now().Add(patience)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		if _, err := sb.t.admin.Exec(ctx, vacuumSQL(b.tables, sb.t.versionNum)); err != nil {
			return fmt.Errorf("trial: vacuum %s: %w", sb.name, err)
		}
		var found int
		var pages, stats bool
		err := sb.t.admin.QueryRow(ctx, `
			SELECT count(*)::int, coalesce(bool_or(pg_relation_size(c.oid) > 0 OR (c.reltoastrelid <> 0 AND pg_relation_size(c.reltoastrelid) > 0)), false),
			       coalesce(bool_or(pg_stat_get_autoanalyze_count(c.oid) > 0), false)
			FROM pg_class c WHERE c.oid = ANY($1::oid[]) AND c.relkind = 'r'`, b.oids).Scan(&found, &pages, &stats)
		switch {
		case err != nil:
			return fmt.Errorf("trial: check %s after vacuum: %w", sb.name, err)
		case found != len(b.oids):
			return fmt.Errorf("trial: %s lost a table of its setup during the restore", sb.name)
		case stats:
			return fmt.Errorf("trial: %s may have planner statistics (autovacuum analyzed a table)", sb.name)
		case !pages:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("trial: %s still has pages after %s of VACUUM: %w", sb.name, patience, errHorizon)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// vacuumSQL vacuums and analyzes tables on a server of versionNum
// (server_version_num). From PostgreSQL 16 on, it skips the update of the
// database's oldest unfrozen XID (SKIP_DATABASE_STATS): that update scans
// all of pg_class, so it grows with every table in the database (on a
// shared server, everyone's), and concurrent VACUUMs wait for each other
// to do it; a sandbox's new tables are never the database's oldest, and
// autovacuum keeps the statistics up to date.
func vacuumSQL(tables []string, versionNum int) string {
	options := "ANALYZE"
	if versionNum >= 160000 {
		options += ", SKIP_DATABASE_STATS"
	}
	return "VACUUM (" + options + ") " + strings.Join(tables, ", ")
}

// put takes back the schema of sb (which Release marked released) as a
// new Sandbox and restores it in the background, off the caller's path;
// once restored, the next run can take it; if it cannot be, it is
// dropped.
func (r *Reuse) put(sb *Sandbox) {
	next := &Sandbox{t: sb.t, name: sb.name, mode: sb.mode, config: sb.config, writer: sb.writer, reuse: r, base: sb.base}
	run := sb.t.run
	run.mu.Lock()
	run.sandboxes[sb.name] = next // the run drops what it did not give back when it ends
	run.mu.Unlock()
	r.restoring.Add(1)
	r.mu.Lock()
	r.pending++
	r.mu.Unlock()
	go func() {
		defer r.restoring.Done()
		start := time.Now()
		ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
		defer cancel()
		defer func() { r.restored.Add(int64(time.Since(start))) }()
		err := errNotRestoring
		if r.Disabled() == "" {
			err = r.restore(ctx, next)
		}
		if r.finish(next, err) {
			return
		}
		dctx, dcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer dcancel()
		_ = next.Drop(dctx)
	}()
}

// errNotRestoring ends the restore of a sandbox released after r was
// disabled.
var errNotRestoring = errors.New("trial: sandboxes are not restored any more")

// finish records how the restore of next ended and, when it succeeded,
// makes next takable; false: next is to be dropped. Either way it wakes
// the runs waiting in take. After horizonLimit restores in a row that old
// snapshots defeated, r stops restoring.
func (r *Reuse) finish(next *Sandbox, err error) bool {
	if err != nil && err != errNotRestoring {
		r.lastErr.Store(&err)
	}
	r.mu.Lock()
	r.pending--
	close(r.changed)
	r.changed = make(chan struct{})
	switch {
	case err == nil:
		r.horizon = 0
		kept := !r.closed && r.disabled == ""
		if kept {
			r.idle = append(r.idle, next)
		}
		r.mu.Unlock()
		return kept
	case errors.Is(err, errHorizon):
		r.horizon++
	}
	stop := r.horizon >= horizonLimit
	r.mu.Unlock()
	if stop {
		r.disable(errHorizon.Error())
	}
	return false
}

// Settle waits for the restores under way (tests, and callers that want
// the next run to find every sandbox given back).
func (r *Reuse) Settle() { r.restoring.Wait() }

// Restoring is the time spent restoring sandboxes so far, summed over
// restores that overlap: server work that runs beside the trials.
func (r *Reuse) Restoring() time.Duration { return time.Duration(r.restored.Load()) }

// signatureSQL hashes the identity and row version (xmin) of every catalog
// row that belongs to the schema named $1: the schema, the objects in it
// and, transitively, the objects that depend on them (columns, defaults,
// indexes, constraints, triggers, rules, policies, sequences' parameters,
// enum labels, casts of its types), found through pg_depend by index.
// Any CREATE, ALTER, DROP or GRANT of them changes the result (COMMENT
// does not: a comment changes nothing a writer does); VACUUM and ANALYZE
// update catalog columns in place and leave it unchanged. Objects of a
// kind not listed below are covered by their existence alone (created or
// dropped, not altered).
const signatureSQL = `
WITH RECURSIVE ns AS (SELECT oid, xmin FROM pg_namespace WHERE nspname = $1),
objs(classid, objid) AS (
	SELECT classid, objid FROM pg_depend WHERE refclassid = 'pg_namespace'::regclass AND refobjid = (SELECT oid FROM ns)
	UNION
	SELECT d.classid, d.objid FROM objs o, LATERAL (SELECT classid, objid FROM pg_depend WHERE refclassid = o.classid AND refobjid = o.objid OFFSET 0) d
)
SELECT md5(string_agg(x, ',' ORDER BY x)) FROM (
	SELECT 'n:' || xmin FROM ns
	UNION ALL
	SELECT o.classid || '.' || o.objid || ':' || CASE o.classid
		WHEN 'pg_class'::regclass THEN (SELECT xmin FROM pg_class WHERE oid = o.objid)
		WHEN 'pg_proc'::regclass THEN (SELECT xmin FROM pg_proc WHERE oid = o.objid)
		WHEN 'pg_type'::regclass THEN (SELECT xmin FROM pg_type WHERE oid = o.objid)
		WHEN 'pg_constraint'::regclass THEN (SELECT xmin FROM pg_constraint WHERE oid = o.objid)
		WHEN 'pg_trigger'::regclass THEN (SELECT xmin FROM pg_trigger WHERE oid = o.objid)
		WHEN 'pg_rewrite'::regclass THEN (SELECT xmin FROM pg_rewrite WHERE oid = o.objid)
		WHEN 'pg_policy'::regclass THEN (SELECT xmin FROM pg_policy WHERE oid = o.objid)
		WHEN 'pg_attrdef'::regclass THEN (SELECT xmin FROM pg_attrdef WHERE oid = o.objid)
		WHEN 'pg_statistic_ext'::regclass THEN (SELECT xmin FROM pg_statistic_ext WHERE oid = o.objid)
		WHEN 'pg_operator'::regclass THEN (SELECT xmin FROM pg_operator WHERE oid = o.objid)
		WHEN 'pg_opclass'::regclass THEN (SELECT xmin FROM pg_opclass WHERE oid = o.objid)
		WHEN 'pg_opfamily'::regclass THEN (SELECT xmin FROM pg_opfamily WHERE oid = o.objid)
		WHEN 'pg_collation'::regclass THEN (SELECT xmin FROM pg_collation WHERE oid = o.objid)
		WHEN 'pg_conversion'::regclass THEN (SELECT xmin FROM pg_conversion WHERE oid = o.objid)
		WHEN 'pg_ts_config'::regclass THEN (SELECT xmin FROM pg_ts_config WHERE oid = o.objid)
		WHEN 'pg_ts_dict'::regclass THEN (SELECT xmin FROM pg_ts_dict WHERE oid = o.objid)
		WHEN 'pg_cast'::regclass THEN (SELECT xmin FROM pg_cast WHERE oid = o.objid)
		WHEN 'pg_default_acl'::regclass THEN (SELECT xmin FROM pg_default_acl WHERE oid = o.objid)
		WHEN 'pg_extension'::regclass THEN (SELECT xmin FROM pg_extension WHERE oid = o.objid)
	END
	FROM objs o
	UNION ALL
	SELECT 'a' || a.attrelid || '.' || a.attnum || ':' || a.xmin FROM objs o JOIN pg_attribute a ON a.attrelid = o.objid WHERE o.classid = 'pg_class'::regclass
	UNION ALL
	SELECT 'i' || i.indexrelid || ':' || i.xmin FROM objs o JOIN pg_index i ON i.indexrelid = o.objid WHERE o.classid = 'pg_class'::regclass
	UNION ALL
	SELECT 's' || q.seqrelid || ':' || q.xmin FROM objs o JOIN pg_sequence q ON q.seqrelid = o.objid WHERE o.classid = 'pg_class'::regclass
	UNION ALL
	SELECT 'e' || e.oid || ':' || e.xmin FROM objs o JOIN pg_enum e ON e.enumtypid = o.objid WHERE o.classid = 'pg_type'::regclass
) s(x)`
