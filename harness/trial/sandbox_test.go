package trial

import (
	"context"
	"testing"
)

// TestADroppedSchemaNameServesTheNextSandbox: a schema sandbox the run
// dropped gives its name to the run's next schema sandbox, which is new
// and empty, and whose connections get the backends the dropped one's
// left in the fault proxy's pool; a writer's RESET ALL on such a backend
// stays in the new sandbox. A kept sandbox's name and a database
// sandbox's are not given again.
func TestADroppedSchemaNameServesTheNextSandbox(t *testing.T) {
	ctx := context.Background()
	// connect opens a connection into sb through a proxy attempt and
	// returns its backend's pid and the schema it creates tables in after
	// RESET ALL.
	connect := func(sb *Sandbox, sql string) (pid uint32, schema string) {
		t.Helper()
		conn, done := connectThroughProxy(t, target, sb)
		defer done()
		if _, err := conn.Exec(ctx, "RESET ALL; "+sql); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRow(ctx, "SELECT pg_backend_pid(), current_schema()").Scan(&pid, &schema); err != nil {
			t.Fatal(err)
		}
		return pid, schema
	}

	first, err := target.NewSandbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pid, schema := connect(first, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)")
	if schema != first.Name() {
		t.Fatalf("first sandbox's connection is in schema %q, want %s", schema, first.Name())
	}
	if err := first.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	next := sandbox(t)
	if next.Name() != first.Name() {
		t.Fatalf("the sandbox after %s was dropped is %s; want the dropped name", first.Name(), next.Name())
	}
	if st := snapshot(t, next); len(st.Tables) != 0 {
		t.Errorf("the new sandbox under a dropped name has tables: %v", st.Tables)
	}
	nextPID, schema := connect(next, "CREATE TABLE u (id int)")
	if nextPID != pid {
		t.Errorf("the new sandbox's connection got backend %d; want the pooled backend %d of the dropped one", nextPID, pid)
	}
	if schema != next.Name() {
		t.Errorf("after RESET ALL the connection creates tables in %q; want %s", schema, next.Name())
	}
	if st := snapshot(t, next); len(st.Tables) != 1 || st.Tables["u"] == nil {
		t.Errorf("the new sandbox's tables: %v; want u alone", st.Tables)
	}

	kept := sandbox(t)
	kept.Keep()
	if err := kept.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	kept.Unkeep() // the test's cleanup drops it
	if after := sandbox(t); after.Name() == kept.Name() {
		t.Errorf("a kept sandbox's name %s was given to a new sandbox", kept.Name())
	}

	db := sandbox(t, Mode(DatabaseSandbox))
	if err := db.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	for _, opt := range []SandboxOption{Mode(DatabaseSandbox), Mode(SchemaSandbox)} {
		if after := sandbox(t, opt); after.Name() == db.Name() {
			t.Errorf("a dropped database sandbox's name %s was given to a new %s sandbox", db.Name(), after.Mode())
		}
	}
}
