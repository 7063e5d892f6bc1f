package trial_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/jackc/pgx/v5"
)

// sqlWriter runs fixed SQL: setup once per sandbox, write on every attempt.
type sqlWriter struct{ setup, write string }

func (w sqlWriter) Setup(ctx context.Context, env *harness.Env) error {
	_, err := env.Conn.Exec(ctx, w.setup)
	return err
}

func (w sqlWriter) Write(ctx context.Context, env *harness.Env, _ harness.Batch[harness.Order]) error {
	_, err := env.Conn.Exec(ctx, w.write)
	return err
}

// reuseSetup leaves one of most kinds of object a restore must bring back.
const reuseSetup = `
	CREATE TABLE orders (id bigserial PRIMARY KEY, note text DEFAULT 'n', amount numeric CHECK (amount >= 0));
	CREATE INDEX orders_note ON orders (note);
	CREATE TABLE lines (order_id bigint REFERENCES orders, qty int GENERATED ALWAYS AS IDENTITY);
	CREATE FUNCTION bump(x numeric) RETURNS numeric LANGUAGE sql AS 'SELECT x + 1';
	CREATE TYPE mood AS ENUM ('ok');
	CREATE VIEW big AS SELECT * FROM orders WHERE amount > 10;
	SELECT nextval('orders_id_seq')` // a sequence Setup moved: restored to 1, called

const reuseWrite = `
	INSERT INTO orders (amount) VALUES (bump(1)), (20);
	INSERT INTO lines (order_id) SELECT id FROM orders`

// runReusing runs a clean scenario of w with r and returns its
// observation; runBatches, of bs.
func runReusing(t *testing.T, r *trial.Reuse, w W, opts ...trial.RunOption) *trial.Observation {
	t.Helper()
	return runBatches(t, r, w, batches, opts...)
}

func runBatches(t *testing.T, r *trial.Reuse, w W, bs []harness.Batch[harness.Order], opts ...trial.RunOption) *trial.Observation {
	t.Helper()
	obs, err := trial.Run(context.Background(), target(t), w, harness.CleanScenario(bs), append(opts, trial.SandboxesFrom(r))...)
	if err != nil {
		t.Fatal(err)
	}
	return obs
}

// schemaOID is the oid of the schema called name, which must exist. A
// dropped sandbox's name may be taken by the run's next sandbox, so a
// schema is told gone by its oid (schemaGone), not by its name.
func schemaOID(t *testing.T, name string) uint32 {
	t.Helper()
	var oid uint32
	if err := target(t).Admin().QueryRow(context.Background(), "SELECT oid FROM pg_namespace WHERE nspname = $1", name).Scan(&oid); err != nil {
		t.Fatalf("schema %s: %v", name, err)
	}
	return oid
}

// schemaGone reports whether the schema whose oid was oid is dropped.
func schemaGone(t *testing.T, oid uint32) bool {
	t.Helper()
	var n int
	if err := target(t).Admin().QueryRow(context.Background(), "SELECT count(*) FROM pg_namespace WHERE oid = $1", oid).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 0
}

func rowsOf(t *testing.T, st *trial.State, table string) []trial.Row {
	t.Helper()
	tb := st.Tables[table]
	if tb == nil {
		t.Fatalf("no table %s in %v", table, st.TableNames())
	}
	return tb.Rows
}

func TestReuseRestoresWhatSetupLeft(t *testing.T) {
	ctx := context.Background()
	r := target(t).NewReuse()
	defer r.Close(ctx)
	w := sqlWriter{setup: reuseSetup, write: reuseWrite}

	first := runReusing(t, r, w)
	if first.Reused {
		t.Fatal("the first run found a sandbox to reuse")
	}
	name := first.Sandbox.Name()
	oid := schemaOID(t, name)
	if err := first.Sandbox.Release(ctx); err != nil {
		t.Fatal(err)
	}
	r.Settle()
	if err := r.Refused(); err != nil {
		t.Fatalf("the sandbox was not kept for reuse: %v", err)
	}
	second := runReusing(t, r, w)
	defer second.Sandbox.Release(ctx)
	if !second.Reused || second.Sandbox.Name() != name {
		t.Fatalf("second run: reused %v in %s; want the first run's %s", second.Reused, second.Sandbox.Name(), name)
	}
	// The same rows, surrogate keys included: the sequences were set back
	// to where Setup left them (orders_id_seq at 1, called; the identity
	// of lines at its start).
	for _, table := range []string{"orders", "lines"} {
		a, b := rowsOf(t, first.Final, table), rowsOf(t, second.Final, table)
		if len(a) == 0 || !equalRows(a, b) {
			t.Errorf("%s: first run %v, reused sandbox %v", table, a, b)
		}
	}
	if got := rowsOf(t, second.Final, "orders")[0][0]; got != int64(2) {
		t.Errorf("the first order's id in the reused sandbox is %v; want 2 (Setup took 1)", got)
	}
	// New files: the first row written is on the first page, in the first
	// slot, as in a table just created; no statistics either.
	var ctid string
	var tuples float64
	err := target(t).Admin().QueryRow(ctx, `SELECT min(ctid)::text, (SELECT reltuples FROM pg_class WHERE oid = $1::regclass) FROM `+pgx.Identifier{name, "orders"}.Sanitize(),
		name+".orders").Scan(&ctid, &tuples)
	if err != nil {
		t.Fatal(err)
	}
	if ctid != "(0,1)" {
		t.Errorf("the reused sandbox's first row is at %s; want (0,1), as in a new table", ctid)
	}
	// The first run's Sandbox no longer reaches the schema: releasing or
	// dropping it again leaves the second run's rows alone.
	first.Sandbox.Release(ctx)
	first.Sandbox.Drop(ctx)
	if schemaGone(t, oid) {
		t.Fatal("a stale Sandbox dropped the schema another run uses")
	}
	if st, err := trial.Snapshot(ctx, second.Sandbox); err != nil || !equalRows(rowsOf(t, st, "orders"), rowsOf(t, second.Final, "orders")) {
		t.Errorf("after the stale Release and Drop the second run's sandbox holds %v, %v", st, err)
	}
	if _, err := trial.Snapshot(ctx, first.Sandbox); err == nil {
		t.Error("a snapshot through the released Sandbox read the schema another run uses")
	}
}

func equalRows(a, b []trial.Row) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				return false
			}
		}
	}
	return true
}

func TestReuseDropsWhatAWriterChanged(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, ddl string
		reused    bool
	}{
		{"only rows", "", true},
		{"a comment", "COMMENT ON TABLE orders IS 'changes nothing a writer does'", true},
		{"a table created and dropped", "CREATE TABLE staging (id int); DROP TABLE staging", true},
		{"a column", "ALTER TABLE orders ADD COLUMN extra int", false},
		{"a column's type", "ALTER TABLE lines ALTER COLUMN qty TYPE bigint", false},
		{"a default", "ALTER TABLE orders ALTER COLUMN note SET DEFAULT 'm'", false},
		{"an index", "CREATE INDEX orders_amount ON orders (amount)", false},
		{"a constraint", "ALTER TABLE orders ADD CONSTRAINT small CHECK (amount < 1000)", false},
		{"a table left behind", "CREATE TABLE IF NOT EXISTS staging (id int)", false},
		{"a function replaced", "CREATE OR REPLACE FUNCTION bump(x numeric) RETURNS numeric LANGUAGE sql AS 'SELECT x + 2'", false},
		{"an enum label", "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'sad'", false},
		{"a trigger", "CREATE OR REPLACE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$; CREATE TRIGGER stamp BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION stamp()", false},
		{"a view recreated the same", "DROP VIEW big; CREATE VIEW big AS SELECT * FROM orders WHERE amount > 10", false},
		{"a sequence's increment", "ALTER SEQUENCE orders_id_seq INCREMENT BY 2", false},
		{"a grant", "GRANT SELECT ON orders TO PUBLIC", false},
		{"a policy", "CREATE POLICY mine ON orders USING (true)", false},
		{"a domain", "CREATE DOMAIN positive AS int CHECK (VALUE > 0)", false},
		{"a TRUNCATE (new files)", "TRUNCATE lines", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := target(t).NewReuse()
			defer r.Close(ctx)
			write := reuseWrite
			if tc.ddl != "" {
				write += "; " + tc.ddl
			}
			w := sqlWriter{setup: reuseSetup, write: write}
			first := runBatches(t, r, w, batches[:1]) // the DDL runs once
			for _, st := range first.Steps {
				if st.Outcome != trial.Acked {
					t.Fatalf("the writer failed: %s", st)
				}
			}
			name := first.Sandbox.Name()
			oid := schemaOID(t, name)
			if err := first.Sandbox.Release(ctx); err != nil {
				t.Fatal(err)
			}
			r.Settle()
			second := runReusing(t, r, sqlWriter{setup: reuseSetup, write: reuseWrite})
			defer second.Sandbox.Release(ctx)
			if second.Reused != tc.reused {
				t.Fatalf("after %q the next run reused the sandbox: %v; want %v (refused: %v)", tc.ddl, second.Reused, tc.reused, r.Refused())
			}
			if !tc.reused {
				if !schemaGone(t, oid) {
					t.Errorf("the changed sandbox %s was not dropped", name)
				}
				if err := r.Refused(); err == nil {
					t.Error("Refused says nothing")
				}
			}
		})
	}
}

func TestReuseNeverWhenSetupLeavesWhatItCannotRestore(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ setup, why string }{
		{"CREATE TABLE dims (id int); INSERT INTO dims VALUES (1)", "leaves rows"},
		{"CREATE TABLE t (id int); CREATE MATERIALIZED VIEW mv AS SELECT * FROM t", "materialized view"},
		{"CREATE TABLE t (id int); ALTER TABLE t ENABLE ROW LEVEL SECURITY", "row level security"},
		{"CREATE TABLE a (id int PRIMARY KEY, b int); CREATE TABLE b (id int PRIMARY KEY, a int REFERENCES a); ALTER TABLE a ADD FOREIGN KEY (b) REFERENCES b", "cycle"},
		{"CREATE TABLE t (id int); CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN OLD; END$$; CREATE TRIGGER f BEFORE DELETE ON t FOR EACH ROW EXECUTE FUNCTION f()", "DELETE trigger"},
		{"CREATE TABLE t (id int); CREATE RULE keep AS ON DELETE TO t DO INSTEAD NOTHING", "DELETE rule"},
	} {
		r := target(t).NewReuse()
		w := sqlWriter{setup: tc.setup, write: "SELECT 1"}
		first := runReusing(t, r, w)
		oid := schemaOID(t, first.Sandbox.Name())
		if err := first.Sandbox.Release(ctx); err != nil {
			t.Fatal(err)
		}
		r.Settle()
		if !strings.Contains(r.Disabled(), tc.why) {
			t.Errorf("setup %q: Disabled() = %q; want it to say %q", tc.setup, r.Disabled(), tc.why)
		}
		if !schemaGone(t, oid) {
			t.Errorf("setup %q: its sandbox was not dropped", tc.setup)
		}
		second := runReusing(t, r, w)
		if second.Reused {
			t.Errorf("setup %q: a run reused a sandbox", tc.setup)
		}
		second.Sandbox.Release(ctx)
		r.Close(ctx)
	}
}

// Close drops the sandboxes a Reuse keeps (two here, in one statement),
// and their names go to the run's next sandboxes, as after Drop.
func TestReuseCloseDropsWhatItKeeps(t *testing.T) {
	ctx := context.Background()
	r := target(t).NewReuse()
	w := sqlWriter{setup: reuseSetup, write: reuseWrite}
	first, second := runReusing(t, r, w), runReusing(t, r, w) // two sandboxes: the first is not given back yet
	names := map[string]bool{first.Sandbox.Name(): true, second.Sandbox.Name(): true}
	if len(names) != 2 {
		t.Fatalf("two runs at once shared sandbox %s", first.Sandbox.Name())
	}
	var oids []uint32
	for _, obs := range []*trial.Observation{first, second} {
		oids = append(oids, schemaOID(t, obs.Sandbox.Name()))
		if err := obs.Sandbox.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	r.Settle()
	for _, oid := range oids {
		if schemaGone(t, oid) {
			t.Fatal("a released sandbox was not kept for reuse")
		}
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, oid := range oids {
		if !schemaGone(t, oid) {
			t.Error("Close left a sandbox it kept")
		}
	}
	for range 2 {
		sb, err := target(t).NewSandbox(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer sb.Drop(ctx)
		if !names[sb.Name()] {
			t.Errorf("a new sandbox is named %s, not after one Close dropped (%v)", sb.Name(), names)
		}
		delete(names, sb.Name())
	}
	// A database sandbox is never reused, and a kept sandbox stays.
	obs := runReusing(t, r, sqlWriter{setup: reuseSetup, write: reuseWrite}, trial.Sandboxes(trial.Mode(trial.DatabaseSandbox)))
	obs.Sandbox.Keep()
	if err := obs.Sandbox.Release(ctx); err != nil {
		t.Fatal(err)
	}
	obs.Sandbox.Unkeep()
	if err := obs.Sandbox.Release(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := target(t).Admin().QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", obs.Sandbox.Name()).Scan(&n); err != nil || n != 0 {
		t.Errorf("the database sandbox is still there (%d, %v)", n, err)
	}
}

// Partitioned tables, table inheritance and a foreign key to a
// partitioned table are emptied and reused like plain tables.
func TestReusePartitionedAndInheritedTables(t *testing.T) {
	ctx := context.Background()
	r := target(t).NewReuse()
	defer r.Close(ctx)
	w := sqlWriter{
		setup: `CREATE TABLE days (d date PRIMARY KEY, n int) PARTITION BY RANGE (d);
			CREATE TABLE days_2026 PARTITION OF days FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
			CREATE TABLE notes (d date REFERENCES days, note text);
			CREATE TABLE base (id int);
			CREATE TABLE child (extra text) INHERITS (base)`,
		write: `INSERT INTO days VALUES ('2026-11-01', 1) ON CONFLICT (d) DO UPDATE SET n = days.n + 1;
			INSERT INTO notes VALUES ('2026-11-01', 'x');
			INSERT INTO child VALUES (1, 'y')`,
	}
	first := runReusing(t, r, w)
	if err := first.Sandbox.Release(ctx); err != nil {
		t.Fatal(err)
	}
	r.Settle()
	second := runReusing(t, r, w)
	defer second.Sandbox.Release(ctx)
	if !second.Reused {
		t.Fatalf("not reused: %v", r.Refused())
	}
	for _, table := range []string{"days", "notes", "base"} {
		a, b := rowsOf(t, first.Final, table), rowsOf(t, second.Final, table)
		if len(a) == 0 || !equalRows(a, b) {
			t.Errorf("%s: first run %v, reused sandbox %v", table, a, b)
		}
	}
}

// A restore waits while an older snapshot still sees the deleted rows,
// and succeeds once it is gone; after horizonLimit restores in a row that
// an old snapshot defeats, Reuse stops restoring and says why.
func TestReuseWaitsForOldSnapshots(t *testing.T) {
	ctx := context.Background()
	old := func() func() {
		t.Helper()
		conn, err := pgx.ConnectConfig(ctx, target(t).ConnConfig())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ"); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "SELECT count(*) FROM pg_class"); err != nil { // takes the snapshot
			t.Fatal(err)
		}
		return func() { conn.Exec(ctx, "COMMIT"); conn.Close(ctx) }
	}
	w := sqlWriter{setup: reuseSetup, write: reuseWrite}

	r := target(t).NewReuse()
	defer r.Close(ctx)
	end := old()
	first := runReusing(t, r, w)
	first.Sandbox.Release(ctx)
	time.Sleep(200 * time.Millisecond) // the restore is retrying VACUUM now
	end()
	r.Settle()
	if err := r.Refused(); err != nil {
		t.Fatalf("the restore gave up although the old snapshot ended within its patience: %v", err)
	}
	if r.Restoring() < 150*time.Millisecond {
		t.Errorf("the restore took %s: it did not wait for the old snapshot", r.Restoring())
	}
	if second := runReusing(t, r, w); !second.Reused {
		t.Error("the restored sandbox was not reused")
	} else {
		second.Sandbox.Release(ctx)
	}

	r2 := target(t).NewReuse()
	defer r2.Close(ctx)
	r2.SetPatience(50 * time.Millisecond)
	end = old()
	defer end()
	for range 3 {
		obs := runReusing(t, r2, w)
		obs.Sandbox.Release(ctx)
		r2.Settle()
	}
	if !strings.Contains(r2.Disabled(), "older transaction") {
		t.Errorf("after three restores defeated by an old snapshot, Disabled() = %q", r2.Disabled())
	}
}

// A run that finds no restored sandbox makes a new one while one restore
// is under way (a spare, so runs that follow one another need not wait),
// and waits for a restore when two or more are under way, then takes the
// sandbox it restored instead of making another. An old snapshot holds
// the restores back (their VACUUM cannot empty the tables) until the
// waiting run is seen waiting.
func TestReuseWaitsForARestoreRatherThanMakeASandbox(t *testing.T) {
	ctx := context.Background()
	w := sqlWriter{setup: reuseSetup, write: reuseWrite}
	r := target(t).NewReuse()
	defer r.Close(ctx)
	first := runReusing(t, r, w)
	first.Sandbox.Release(ctx)
	r.Settle()

	conn, err := pgx.ConnectConfig(ctx, target(t).ConnConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT count(*) FROM pg_class"); err != nil { // takes the snapshot
		t.Fatal(err)
	}
	ended := false
	endSnapshot := func() {
		if !ended {
			ended = true
			conn.Exec(ctx, "COMMIT")
		}
	}
	defer endSnapshot()

	second := runReusing(t, r, w) // takes the first run's sandbox; its restore now waits for the snapshot
	second.Sandbox.Release(ctx)
	third := runReusing(t, r, w) // one restore under way: a new sandbox
	if !second.Reused || third.Reused {
		t.Fatalf("second run reused %v (want true), third %v (want false: a spare while one restore is under way)", second.Reused, third.Reused)
	}
	if err := r.Refused(); err != nil { // the second's restore cannot end before the snapshot does but by giving up
		t.Fatalf("the third run waited for the second run's restore until it gave up: %v", err)
	}
	third.Sandbox.Release(ctx)

	fourth := make(chan *trial.Observation)
	go func() {
		obs, err := trial.Run(ctx, target(t), w, harness.CleanScenario(batches), trial.SandboxesFrom(r))
		if err != nil {
			t.Error(err)
		}
		fourth <- obs
	}()
	for deadline := time.Now().Add(10 * time.Second); r.Waiting() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			endSnapshot()
			obs := <-fourth
			t.Fatalf("with two restores under way the fourth run did not wait for one (reused %v)", obs != nil && obs.Reused)
		}
	}
	endSnapshot()
	obs := <-fourth
	if obs == nil {
		return
	}
	defer obs.Sandbox.Release(ctx)
	if !obs.Reused {
		t.Errorf("the fourth run waited, then made a new sandbox (refused: %v)", r.Refused())
	}
	if name := obs.Sandbox.Name(); name != second.Sandbox.Name() && name != third.Sandbox.Name() {
		t.Errorf("the fourth run has sandbox %s; want one of the two being restored, %s or %s", name, second.Sandbox.Name(), third.Sandbox.Name())
	}
}
