package trial

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// compareSQL builds the same table in two sandboxes, fills each with its own
// statement and compares them.
func compareSQL(t *testing.T, create, clean, faulty string, opts ...CompareOption) *Diff {
	t.Helper()
	a, b := sandbox(t), sandbox(t)
	for sb, fill := range map[*Sandbox]string{a: clean, b: faulty} {
		execSQL(t, sb, create)
		if fill != "" {
			execSQL(t, sb, fill)
		}
	}
	d, err := Compare(context.Background(), snapshot(t, a), snapshot(t, b), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSnapshotValueTypes(t *testing.T) {
	for _, tc := range []struct {
		typ, a, b string
		equal     bool
	}{
		{"int", "1", "1", true},
		{"int", "1", "2", false},
		{"bigint", "9007199254740993", "9007199254740993", true},
		{"bigint", "9007199254740993", "9007199254740992", false},
		{"smallint", "-3", "-3", true},
		{"numeric", "12.50", "12.5", true},
		{"numeric", "12.50", "12.51", false},
		{"numeric(10,2)", "12.5", "12.50", true},
		{"numeric", "0.000", "0", true},
		{"text", "'héllo ✓'", "'héllo ✓'", true},
		{"text", "'a'", "'A'", false},
		{"text", "''", "NULL", false},
		{"text", "'NULL'", "NULL", false},
		{"bool", "true", "true", true},
		{"bool", "true", "false", false},
		{"date", "'2026-11-01'", "'2026-11-01'", true},
		{"date", "'2026-11-01'", "'2026-11-02'", false},
		{"timestamp", "'2026-11-01 10:00:00'", "'2026-11-01 10:00:00.000'", true},
		{"timestamp", "'2026-11-01 10:00:00'", "'2026-11-01 10:00:01'", false},
		{"timestamptz", "'2026-11-01 10:00:00+00'", "'2026-11-01 11:00:00+01'", true},
		{"timestamptz", "'2026-11-01 10:00:00+00'", "'2026-11-01 10:00:00+01'", false},
		{"uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", true},
		{"uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12'", false},
		{"jsonb", `'{"a": 1, "b": [1, 2]}'`, `'{"b":[1,2],"a":1}'`, true},
		{"jsonb", `'{"a": 1}'`, `'{"a": 2}'`, false},
		{"json", `'{"a": 1, "b": 2}'`, `'{"b":2,  "a":1}'`, true},
		{"bytea", `'\xdeadbeef'`, `'\xDEADBEEF'`, true},
		{"bytea", `'\xdeadbeef'`, `'\xdeadbeee'`, false},
		{"int[]", "'{1,2,3}'", "ARRAY[1,2,3]", true},
		{"int[]", "'{1,2,3}'", "'{3,2,1}'", false},
		{"text[]", "'{a,NULL}'", "ARRAY['a', NULL]", true},
		{"numeric[]", "'{1.50,2}'", "'{1.5,2.000}'", true},
		{"numeric[]", "'{1.50,2}'", "'{1.5,2.1}'", false},
		{"numeric[]", "'{}'", "NULL", false},
		{"int", "NULL", "NULL", true},
		{"int", "NULL", "0", false},
		{"double precision", "0.1", "0.10", true},
		{"double precision", "0.1", "0.1000001", false},
	} {
		name := fmt.Sprintf("%s %s vs %s", tc.typ, tc.a, tc.b)
		t.Run(name, func(t *testing.T) {
			d := compareSQL(t, "CREATE TABLE v (x "+tc.typ+")",
				"INSERT INTO v VALUES ("+tc.a+")", "INSERT INTO v VALUES ("+tc.b+")")
			if d.Equal != tc.equal {
				t.Errorf("Equal = %v, want %v\n%s", d.Equal, tc.equal, d)
			}
		})
	}
}

func TestDuplicateRowsCount(t *testing.T) {
	create := "CREATE TABLE orders (id int, amount numeric)"
	d := compareSQL(t, create, "INSERT INTO orders VALUES (7, 12.5)", "INSERT INTO orders VALUES (7, 12.50), (7, 12.5), (7, 12.5)")
	if d.Equal {
		t.Fatal("one row and the same row three times compare equal")
	}
	td := d.Tables[0]
	if len(td.Extra) != 1 || td.Extra[0].Count != 2 || len(td.Missing) != 0 {
		t.Fatalf("want 1 row extra ×2, got %+v", td)
	}
	s := d.String()
	for _, want := range []string{"(-clean +faulty)", "table orders: 2 rows extra", `+ {id: 7, amount: "12.5"}  ×2`} {
		if !strings.Contains(s, want) {
			t.Errorf("diff lacks %q:\n%s", want, s)
		}
	}
	// Multiplicity the other way: rows missing.
	d = compareSQL(t, create, "INSERT INTO orders VALUES (7, 1), (7, 1), (8, 2)", "INSERT INTO orders VALUES (7, 1)")
	if got := d.Tables[0].Summary(); got != "table orders: 2 rows missing" {
		t.Errorf("summary %q", got)
	}
}

func TestChangedRowsAreKeyedByPrimaryKey(t *testing.T) {
	d := compareSQL(t, "CREATE TABLE orders (id int PRIMARY KEY, version int, amount numeric, customer text)",
		"INSERT INTO orders VALUES (1, 1, 5, 'c-1'), (7, 3, 12.50, 'c-3'), (9, 1, 1, 'c-9')",
		"INSERT INTO orders VALUES (1, 1, 5, 'c-1'), (7, 2, 10, 'c-3'), (8, 1, 1, 'c-8')")
	td := d.Tables[0]
	if len(td.Changed) != 1 || strings.Join(td.Changed[0].Columns, ",") != "version,amount" {
		t.Fatalf("want key 7 changed in version and amount, got %+v", td.Changed)
	}
	s := d.String()
	for _, want := range []string{
		"table orders (key id): 1 row missing, 1 row extra, 1 row changed",
		"changed, columns version, amount:",
		`-   "amount":   string("12.5"),`,
		`+   "amount":   string("10"),`,
		`- {id: 9, version: 1, amount: "1", customer: "c-9"}`,
		`+ {id: 8, version: 1, amount: "1", customer: "c-8"}`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("diff lacks %q:\n%s", want, s)
		}
	}
}

func TestTablesThatExistOnOneSide(t *testing.T) {
	d := compareSQL(t, "CREATE TABLE a (x int)", "", "CREATE TABLE b (y int); INSERT INTO b VALUES (1)")
	if d.Equal || !strings.Contains(d.String(), "table b: table only in the faulty run (1 rows)") {
		t.Errorf("%s", d)
	}
	d = compareSQL(t, "CREATE TABLE a (x int)", "ALTER TABLE a ADD COLUMN y int", "")
	if d.Equal || !strings.Contains(d.String(), "columns differ: clean has (x int4, y int4), faulty has (x int4)") {
		t.Errorf("%s", d)
	}
}

func TestIgnoreColumns(t *testing.T) {
	create := "CREATE TABLE events (id int PRIMARY KEY, loaded_at timestamptz, note text)"
	clean := "INSERT INTO events VALUES (1, '2026-01-01', 'x')"
	faulty := "INSERT INTO events VALUES (1, '2026-02-02', 'x')"
	if d := compareSQL(t, create, clean, faulty); d.Equal {
		t.Fatal("differing loaded_at compares equal without options")
	}
	for _, opt := range []CompareOption{IgnoreColumns("events.loaded_at"), IgnoreColumns("loaded_at")} {
		if d := compareSQL(t, create, clean, faulty, opt); !d.Equal {
			t.Errorf("with the column ignored the states must be equal:\n%s", d)
		}
	}
	if d := compareSQL(t, create, clean, faulty, IgnoreColumns("other.loaded_at")); d.Equal {
		t.Error("ignoring a column of another table must not hide the difference")
	}
}

// A snapshot stands on its own once taken: the clean states the laws
// compare with are cached after their sandboxes are dropped. An empty
// table compared with an option used to be taken for a large one and
// fingerprinted in the (gone) sandbox.
func TestComparingAfterTheSandboxIsGone(t *testing.T) {
	ctx := context.Background()
	create := "CREATE TABLE events (id int PRIMARY KEY, loaded_at timestamptz, note text)"
	for _, fill := range []string{"", "INSERT INTO events VALUES (1, '2026-01-01', 'x')"} {
		a, b := sandbox(t), sandbox(t)
		for _, sb := range []*Sandbox{a, b} {
			execSQL(t, sb, create)
			if fill != "" {
				execSQL(t, sb, fill)
			}
		}
		sa, sb := snapshot(t, a), snapshot(t, b)
		if err := a.Drop(ctx); err != nil {
			t.Fatal(err)
		}
		for _, opts := range [][]CompareOption{nil, {IgnoreColumns("events.loaded_at")}, {ModuloSurrogateKeys()}} {
			d, err := Compare(ctx, sa, sb, opts...)
			if err != nil {
				t.Fatalf("%q with %d option(s): %v", fill, len(opts), err)
			}
			if !d.Equal {
				t.Errorf("%q with %d option(s): equal states differ:\n%s", fill, len(opts), d)
			}
		}
	}
}

func TestSurrogateKeys(t *testing.T) {
	for _, create := range []string{
		"CREATE TABLE orders (sid serial PRIMARY KEY, id int, amount numeric)",
		"CREATE TABLE orders (sid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id int, amount numeric)",
	} {
		t.Run(strings.Fields(create)[4], func(t *testing.T) {
			clean := "INSERT INTO orders (id, amount) VALUES (1, 10), (2, 20)"
			// A rolled-back insert advances the sequence: same rows, other ids.
			faulty := "BEGIN; INSERT INTO orders (id, amount) VALUES (1, 10); ROLLBACK; " + clean
			d := compareSQL(t, create, clean, faulty)
			if d.Equal || !d.OnlySurrogateKeys {
				t.Fatalf("want a difference only in surrogate keys, got Equal=%v Only=%v\n%s", d.Equal, d.OnlySurrogateKeys, d)
			}
			if !strings.Contains(d.String(), "ModuloSurrogateKeys()") {
				t.Errorf("the diff must name the option:\n%s", d)
			}
			if d := compareSQL(t, create, clean, faulty, ModuloSurrogateKeys()); !d.Equal {
				t.Errorf("modulo surrogate keys the states are equal:\n%s", d)
			}
			// A real difference is not excused by the option, nor called surrogate-only.
			dup := clean + "; INSERT INTO orders (id, amount) VALUES (2, 20)"
			if d := compareSQL(t, create, clean, dup, ModuloSurrogateKeys()); d.Equal {
				t.Error("a duplicated row must differ even modulo surrogate keys")
			}
			if d := compareSQL(t, create, clean, dup); d.OnlySurrogateKeys {
				t.Error("a duplicated row is not a surrogate-only difference")
			}
		})
	}
}

func TestLargeTablesCompareByFingerprint(t *testing.T) {
	n := RowLimit + 50
	create := "CREATE TABLE big (id int, amount numeric)"
	fill := fmt.Sprintf("INSERT INTO big SELECT g, g * 1.50 FROM generate_series(1, %d) g", n)
	a, b := sandbox(t), sandbox(t)
	execSQL(t, a, create+"; "+fill)
	execSQL(t, b, create+"; "+strings.Replace(fill, "g * 1.50", "g * 1.5", 1))
	sa, sb := snapshot(t, a), snapshot(t, b)
	if sa.Tables["big"].Rows != nil || sa.Tables["big"].Count != int64(n) {
		t.Fatalf("a table over RowLimit must be held as a fingerprint only, got %d rows", len(sa.Tables["big"].Rows))
	}
	ctx := context.Background()
	d, err := Compare(ctx, sa, sb)
	if err != nil || !d.Equal {
		t.Fatalf("equal big tables: %v\n%s", err, d)
	}
	small := sandbox(t)
	execSQL(t, small, create+"; INSERT INTO big VALUES (1, 1.5)")
	if d, err := Compare(ctx, sa, snapshot(t, small)); err != nil || d.Equal || !strings.Contains(d.String(), "- {id: 2, amount: \"3\"}") {
		t.Fatalf("a big table against a small one: %v\n%s", err, d)
	}
	execSQL(t, b, "UPDATE big SET amount = 0 WHERE id = 5000; INSERT INTO big VALUES (1, 1.5)")
	d, err = Compare(ctx, sa, snapshot(t, b))
	if err != nil {
		t.Fatal(err)
	}
	if d.Equal {
		t.Fatal("a changed and a duplicated row in a big table went unnoticed")
	}
	for _, want := range []string{`- {id: 5000, amount: "7500"}`, `+ {id: 5000, amount: "0"}`, `+ {id: 1, amount: "1.5"}`} {
		if !strings.Contains(d.String(), want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
}

func TestDiffIsCapped(t *testing.T) {
	d := compareSQL(t, "CREATE TABLE t (x int)", "", "INSERT INTO t SELECT generate_series(1, 500)", MaxDiffLines(10))
	lines := strings.Split(d.String(), "\n")
	if len(lines) != 10 || !strings.HasPrefix(lines[9], "... ") {
		t.Errorf("want 10 lines ending in '... N more lines', got %d:\n%s", len(lines), d)
	}
}

func TestDatabaseSandbox(t *testing.T) {
	a, b := sandbox(t, Mode(DatabaseSandbox)), sandbox(t, Mode(DatabaseSandbox))
	execSQL(t, a, "CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY); CREATE TABLE u (x text); INSERT INTO app.t VALUES (1); INSERT INTO u VALUES ('a')")
	execSQL(t, b, "CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY); CREATE TABLE u (x text); INSERT INTO app.t VALUES (2); INSERT INTO u VALUES ('a')")
	d, err := Compare(context.Background(), snapshot(t, a), snapshot(t, b))
	if err != nil {
		t.Fatal(err)
	}
	if d.Equal || len(d.Tables) != 1 || d.Tables[0].Table != "app.t" {
		t.Fatalf("want only app.t to differ:\n%s", d)
	}
	if err := a.Drop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestPartitionedTableCountsOnce(t *testing.T) {
	d := compareSQL(t, "CREATE TABLE p (d date, x int) PARTITION BY RANGE (d); CREATE TABLE p1 PARTITION OF p FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')",
		"INSERT INTO p VALUES ('2026-05-01', 1)", "INSERT INTO p VALUES ('2026-05-01', 1)")
	if !d.Equal {
		t.Fatal(d)
	}
}

// TestSnapshotFindsEveryTableOfTheSchema checks that a schema sandbox's
// snapshot, which finds tables through their dependency on the schema,
// sees exactly the tables a scan of pg_class by namespace sees, however
// they came to be there: created every way a writer can, renamed, moved in
// from another schema, with those moved out left out.
func TestSnapshotFindsEveryTableOfTheSchema(t *testing.T) {
	ctx := context.Background()
	sb := sandbox(t)
	admin := target.Admin()
	other := sb.Name() + "_other"
	q := func(sql string) {
		t.Helper()
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	in := func(name string) string { return fmt.Sprintf("%q.%q", sb.Name(), name) }
	out := func(name string) string { return fmt.Sprintf("%q.%q", other, name) }
	q("CREATE SCHEMA " + fmt.Sprintf("%q", other))
	t.Cleanup(func() { _, _ = admin.Exec(ctx, fmt.Sprintf("DROP SCHEMA %q CASCADE", other)) })
	execSQL(t, sb, `CREATE TABLE plain (id int PRIMARY KEY, v text);
		CREATE TABLE copied AS SELECT 1 AS id;
		SELECT 2 AS id INTO selected;
		CREATE UNLOGGED TABLE unlogged (id int);
		CREATE TABLE parted (d date, x int) PARTITION BY RANGE (d);
		CREATE TABLE parted_2026 PARTITION OF parted FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
		CREATE TABLE before_rename (id int); ALTER TABLE before_rename RENAME TO renamed;
		CREATE TABLE leaving (id int);
		CREATE VIEW a_view AS SELECT 1 AS id;
		CREATE SEQUENCE a_sequence;
		CREATE MATERIALIZED VIEW a_matview AS SELECT 1 AS id;
		CREATE TYPE a_composite AS (x int)`)
	q("CREATE TABLE " + out("arriving") + " (id int)")
	q("ALTER TABLE " + out("arriving") + " SET SCHEMA " + fmt.Sprintf("%q", sb.Name()))
	q("ALTER TABLE " + in("leaving") + " SET SCHEMA " + fmt.Sprintf("%q", other))
	q("CREATE TABLE " + out("elsewhere") + " (id int)")

	rows, err := admin.Query(ctx, `SELECT relname::text FROM pg_class WHERE relnamespace = $1::regnamespace
		AND relkind IN ('r', 'p') AND NOT relispartition ORDER BY 1`, sb.Name())
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		want = append(want, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	got := snapshot(t, sb).TableNames()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("snapshot's tables %v, pg_class's %v", got, want)
	}
	if fmt.Sprint(want) != "[arriving copied parted plain renamed selected unlogged]" {
		t.Fatalf("pg_class lists %v: the test's setup did not make the tables it means to", want)
	}
}

// TestDigest checks that a table's digest identifies the multiset of its
// rows: the same rows written in another order (so read in another order)
// give the same digest; a changed value, a duplicate or a missing row, or a
// NULL for an empty string, another; a table over RowLimit rows is
// identified by its in-database fingerprint.
func TestDigest(t *testing.T) {
	create := "CREATE TABLE t (id int, name text, amount numeric); "
	digest := func(fill string) string {
		t.Helper()
		sb := sandbox(t)
		execSQL(t, sb, create+fill)
		return snapshot(t, sb).Tables["t"].Digest()
	}
	base := digest("INSERT INTO t VALUES (1, 'a', 1.50), (2, 'b', 2), (3, NULL, NULL)")
	if got := digest("INSERT INTO t VALUES (3, NULL, NULL); INSERT INTO t VALUES (2, 'b', 2.000), (1, 'a', 1.5)"); got != base {
		t.Errorf("the same rows in another order: digest %s, want %s", got, base)
	}
	for _, fill := range []string{
		"INSERT INTO t VALUES (1, 'a', 1.50), (2, 'b', 2), (3, NULL, 0)",
		"INSERT INTO t VALUES (1, 'a', 1.50), (2, 'b', 2), (3, '', NULL)",
		"INSERT INTO t VALUES (1, 'a', 1.50), (2, 'b', 2), (3, NULL, NULL), (3, NULL, NULL)",
		"INSERT INTO t VALUES (1, 'a', 1.50), (2, 'b', 2)",
		"",
	} {
		if got := digest(fill); got == base {
			t.Errorf("%q: the digest of other rows equals the original's", fill)
		}
	}
	fill := fmt.Sprintf("INSERT INTO t SELECT g, 'x', g FROM generate_series(1, %d) g", RowLimit+1)
	sb := sandbox(t)
	execSQL(t, sb, create+fill)
	big := snapshot(t, sb).Tables["t"]
	if big.Rows != nil || big.Fingerprint == "" || !strings.Contains(big.Digest(), big.Fingerprint) {
		t.Fatalf("a table over RowLimit: %d rows held, fingerprint %q, digest %q", len(big.Rows), big.Fingerprint, big.Digest())
	}
	if again := digest(fill); again != big.Digest() {
		t.Errorf("the same large table: digest %s, then %s", big.Digest(), again)
	}
}
