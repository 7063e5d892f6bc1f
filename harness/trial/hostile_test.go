package trial

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/jackc/pgx/v5"
)

// hostileWriter runs one statement per attempt and in its Setup: a writer
// trying to reach outside its sandbox.
type hostileWriter struct{ sql string }

func (w hostileWriter) Setup(ctx context.Context, env *harness.Env) error { return nil }

func (w hostileWriter) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	_, err := env.Conn.Exec(ctx, w.sql, pgx.QueryExecModeSimpleProtocol)
	return err
}

// canary is what a shared server holds that idemcheck did not create: a
// schema with a table and a row, and a role.
type canary struct{ schema, role string }

func newCanary(t *testing.T) canary {
	t.Helper()
	var b [4]byte
	rand.Read(b[:])
	c := canary{schema: "canary_" + hex.EncodeToString(b[:]), role: "canary_role_" + hex.EncodeToString(b[:])}
	ctx := context.Background()
	if _, err := target.Admin().Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %[1]s; CREATE TABLE %[1]s.keep (v text); INSERT INTO %[1]s.keep VALUES ('precious'); CREATE ROLE %[2]s NOLOGIN`,
		quote(c.schema), quote(c.role))); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		target.Admin().Exec(ctx, fmt.Sprintf(`DROP SCHEMA IF EXISTS %s CASCADE; DROP ROLE IF EXISTS %s`, quote(c.schema), quote(c.role)))
	})
	return c
}

// intact fails t unless the canary is as it was.
func (c canary) intact(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	var v string
	if err := target.Admin().QueryRow(ctx, "SELECT v FROM "+quote(c.schema)+".keep").Scan(&v); err != nil || v != "precious" {
		t.Errorf("canary table damaged: %q, %v", v, err)
	}
	var super bool
	if err := target.Admin().QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = $1", c.role).Scan(&super); err != nil || super {
		t.Errorf("canary role damaged: superuser %v, %v", super, err)
	}
}

// The writer role owns its sandbox and nothing else: every escape a writer
// tries is refused by PostgreSQL itself (insufficient privilege), the
// attempt fails with that error, and the canary is intact.
func TestHostileWritersAreRefused(t *testing.T) {
	c := newCanary(t)
	var admin string
	if err := target.Admin().QueryRow(context.Background(), "SELECT current_user").Scan(&admin); err != nil {
		t.Fatal(err)
	}
	escaped := fmt.Sprintf("/tmp/idemcheck-escaped-%d", time.Now().UnixNano())
	escapes := []struct{ name, sql string }{
		{"drop a schema it does not own", "DROP SCHEMA " + quote(c.schema) + " CASCADE"},
		{"delete rows of another schema", "DELETE FROM " + quote(c.schema) + ".keep"},
		{"read rows of another schema", "SELECT * FROM " + quote(c.schema) + ".keep"},
		{"ALTER SYSTEM", "ALTER SYSTEM SET work_mem = '1MB'"},
		{"run a shell command on the database host", "COPY (SELECT 1) TO PROGRAM 'touch " + escaped + "'"},
		{"create a superuser role", "CREATE ROLE idemcheck_evil_role SUPERUSER"},
		{"create a database", "CREATE DATABASE idemcheck_evil_db"},
		{"switch to the superuser", "SET ROLE " + quote(admin)},
		{"create a table in public", "CREATE TABLE public.idemcheck_evil (x int)"},
		{"alter another role", "ALTER ROLE " + quote(c.role) + " SUPERUSER"},
		{"terminate the harness's backends", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = " + quoteLiteral(admin) + " AND pid <> pg_backend_pid()"},
		{"lock a table of another schema", "BEGIN; LOCK TABLE " + quote(c.schema) + ".keep IN ACCESS EXCLUSIVE MODE; COMMIT"},
		{"read a server file", "SELECT pg_read_file('/etc/hostname')"},
		{"reload the server's configuration", "SELECT pg_reload_conf()"},
	}
	ctx := context.Background()
	batches := []harness.Batch[harness.Order]{{ID: "b1", Records: []harness.Order{{Source: "shop", ID: 1, Version: 1, Customer: "c", Amount: "1"}}}}
	for _, e := range escapes {
		t.Run(e.name, func(t *testing.T) {
			obs, err := Run(ctx, target, hostileWriter{e.sql}, harness.CleanScenario(batches), MaxAttempts(1))
			if err != nil {
				t.Fatal(err)
			}
			defer obs.Sandbox.Drop(ctx)
			if len(obs.Exhausted) == 0 {
				t.Fatalf("%s was not refused", e.sql)
			}
			got := obs.Steps[len(obs.Steps)-1].Err
			if !strings.Contains(got, "SQLSTATE 42501") {
				t.Errorf("refused, but not for want of privilege: %s", got)
			}
			t.Logf("refused: %s", got)
		})
	}
	c.intact(t)
	if _, err := os.Stat(escaped); err == nil {
		os.Remove(escaped)
		t.Errorf("COPY TO PROGRAM ran on the database host")
	}
	var n int
	target.Admin().QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_roles WHERE rolname = 'idemcheck_evil_role') + (SELECT count(*) FROM pg_database WHERE datname = 'idemcheck_evil_db')
		+ (SELECT count(*) FROM pg_tables WHERE tablename = 'idemcheck_evil') + (SELECT count(*) FROM pg_file_settings WHERE name = 'work_mem' AND sourcefile LIKE '%postgresql.auto.conf')`).Scan(&n)
	if n != 0 {
		t.Errorf("%d objects or settings of an escape exist", n)
	}
}

// PostgreSQL has no privilege for advisory locks, so a writer can call
// them; it cannot take the run's own lock (the harness holds it), so the
// run stays alive to later runs and nothing of it is reaped early.
func TestHostileWriterCannotTakeTheRunLock(t *testing.T) {
	ctx := context.Background()
	sql := fmt.Sprintf("DO $$ BEGIN IF pg_try_advisory_lock(%d, %d) THEN RAISE EXCEPTION 'took the run lock'; END IF; END $$", runLockClass, target.run.key)
	obs, err := Run(ctx, target, hostileWriter{sql}, harness.CleanScenario([]harness.Batch[harness.Order]{{ID: "b1"}}), MaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Sandbox.Drop(ctx)
	if len(obs.Exhausted) > 0 {
		t.Fatalf("the writer took the run's lock: %s", obs.Steps[0].Err)
	}
}

// A run's writer role is a plain login role, owns its sandboxes, and goes
// with the run, also when a sandbox of it is kept; a later run reaps the
// role of a run that died.
func TestWriterRoleGoesWithTheRun(t *testing.T) {
	ctx := context.Background()
	admin := target.Admin()
	other, err := OpenTarget(ctx, URL(target.ConnString()), NoSignalHandling())
	if err != nil {
		t.Fatal(err)
	}
	role := other.run.role.name
	var super, createdb, createrole, repl, bypass, login bool
	if err := admin.QueryRow(ctx, `SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = $1`, role).
		Scan(&super, &createdb, &createrole, &repl, &bypass, &login); err != nil {
		t.Fatal(err)
	}
	if super || createdb || createrole || repl || bypass || !login {
		t.Errorf("role %s: super %v createdb %v createrole %v replication %v bypassrls %v login %v", role, super, createdb, createrole, repl, bypass, login)
	}
	sb, err := other.NewSandbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := other.NewSandbox(ctx, Mode(DatabaseSandbox))
	if err != nil {
		t.Fatal(err)
	}
	var owner string
	admin.QueryRow(ctx, `SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = $1`, sb.Name()).Scan(&owner)
	if owner != role {
		t.Errorf("sandbox %s is owned by %s, not the writer role %s", sb.Name(), owner, role)
	}
	kept.Keep()
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	defer dropSandbox(ctx, admin, DatabaseSandbox, kept.Name())
	var roles int
	admin.QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE rolname = $1`, role).Scan(&roles)
	if roles != 0 {
		t.Errorf("the role %s of a closed run is left", role)
	}
	var dbs int
	admin.QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE datname = $1`, kept.Name()).Scan(&dbs)
	if dbs != 1 {
		t.Errorf("the kept sandbox %s is gone", kept.Name())
	}

	// The role of a run that died: created by hand with an old time in its
	// name and no run holding its lock.
	dead := fmt.Sprintf("%sdeadbee2_%d_0", SandboxPrefix, time.Now().Add(-time.Hour).Unix())
	if _, err := admin.Exec(ctx, "CREATE ROLE "+quote(dead)); err != nil {
		t.Fatal(err)
	}
	next, err := OpenTarget(ctx, URL(target.ConnString()), NoSignalHandling())
	if err != nil {
		t.Fatal(err)
	}
	next.Close()
	admin.QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE rolname = $1`, dead).Scan(&roles)
	if roles != 0 {
		t.Errorf("the role %s of a dead run was not reaped", dead)
	}
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
