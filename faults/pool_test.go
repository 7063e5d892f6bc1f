package faults_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idemcheck/idemcheck/faults"
	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/jackc/pgx/v5"
)

// TestPooledBackendIsLikeAFreshOne reuses one backend across two attempts:
// nothing of the first attempt's session may survive into the second.
func TestPooledBackendIsLikeAFreshOne(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.proxy.EnablePool(2)
	defer f.proxy.Close()
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprintf("after crash=%v", crash), func(t *testing.T) {
			var plan faults.Plan
			if crash { // before the COMMIT, the 2nd round of the transaction
				plan = faults.Plan{{Kind: faults.CrashBefore, At: faults.AtStmt(1, 2)}}
			}
			a := f.proxy.NewAttempt(plan)
			c1 := fronts["dialer"](t, f, a)
			var pid1 uint32
			c1.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid1)
			for _, sql := range []string{
				"CREATE TEMP TABLE scratch (x int)",
				"SELECT pg_advisory_lock(42)",
				"PREPARE p AS SELECT 1",
				"SET statement_timeout = '123s'",
				"BEGIN",
				"INSERT INTO t VALUES (99, 'uncommitted')",
			} {
				if _, err := c1.Exec(ctx, sql); err != nil {
					t.Fatalf("%s: %v", sql, err)
				}
			}
			c1.Exec(ctx, "COMMIT") // crashes before it in the crash case
			c1.Close(ctx)
			a.Close()

			b := f.proxy.NewAttempt(nil)
			c2 := fronts["dialer"](t, f, b)
			defer c2.Close(ctx)
			var pid2 uint32
			c2.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid2)
			if pid2 != pid1 {
				t.Fatalf("the second attempt got backend %d, not the pooled %d", pid2, pid1)
			}
			var temp, locks, prepared int
			var timeout, path string
			c2.QueryRow(ctx, "SELECT count(*) FROM pg_class WHERE relname = 'scratch' AND relpersistence = 't'").Scan(&temp)
			c2.QueryRow(ctx, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()").Scan(&locks)
			c2.QueryRow(ctx, "SELECT count(*) FROM pg_prepared_statements WHERE name = 'p'").Scan(&prepared)
			c2.QueryRow(ctx, "SHOW statement_timeout").Scan(&timeout)
			c2.QueryRow(ctx, "SHOW search_path").Scan(&path)
			if temp+locks+prepared != 0 || timeout != "0" {
				t.Errorf("session state survived: temp tables %d, advisory locks %d, prepared %d, statement_timeout %s", temp, locks, prepared, timeout)
			}
			if !strings.Contains(path, f.sb.Name()) {
				t.Errorf("search_path %q does not hold the sandbox the second connection asked for", path)
			}
			want := 1
			if crash {
				want = 0
			}
			if n := f.count(); n != want {
				t.Errorf("%d rows, want %d", n, want)
			}
			f.admin("DELETE FROM t")
		})
	}
}

// TestPoolMatchesTheStartup: a pooled backend is handed to a client whose
// startup settings it was started with as it is, back at its startup
// values after a writer changed them, never to a client of other values
// (another sandbox: its RESET ALL would land in the first one's), and
// never once the server ended it.
func TestPoolMatchesTheStartup(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.proxy.EnablePool(2)
	defer f.proxy.Close()
	other, err := target.NewSandbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Drop(ctx)
	// connect returns the backend's pid and its search_path, checking
	// that RESET ALL leaves it there, as on a backend of its own.
	connect := func(sb *trial.Sandbox) (uint32, string, func()) {
		t.Helper()
		a := f.proxy.NewAttempt(nil)
		cfg := sb.ConnConfig()
		cfg.DialFunc = a.DialContext
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var pid uint32
		var path, reset string
		if err := conn.QueryRow(ctx, "SELECT pg_backend_pid(), current_setting('search_path')").Scan(&pid, &path); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "RESET ALL"); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRow(ctx, "SELECT current_setting('search_path')").Scan(&reset); err != nil {
			t.Fatal(err)
		}
		if reset != path {
			t.Errorf("backend %d in %s: RESET ALL moved search_path from %q to %q", pid, sb.Name(), path, reset)
		}
		return pid, path, func() { conn.Exec(ctx, "SET search_path = elsewhere"); conn.Close(ctx); a.Close() }
	}
	pid1, path, done := connect(f.sb)
	done()
	pid2, path2, done := connect(f.sb)
	done()
	if pid2 != pid1 || path2 != path || !strings.Contains(path, f.sb.Name()) {
		t.Errorf("same startup: backend %d with search_path %q, then %d with %q; want the same backend, in %s", pid1, path, pid2, path2, f.sb.Name())
	}
	pid3, path3, done := connect(other)
	done()
	if pid3 == pid1 || !strings.Contains(path3, other.Name()) {
		t.Errorf("another sandbox: backend %d (pooled %d) with search_path %q; want a backend of its own, in %s", pid3, pid1, path3, other.Name())
	}
	if _, err := target.Admin().Exec(ctx, "SELECT pg_terminate_backend($1)", pid1); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		var n int
		target.Admin().QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid1).Scan(&n)
		if n == 0 {
			break
		}
	}
	pid4, path4, done := connect(f.sb)
	done()
	if pid4 == pid1 || !strings.Contains(path4, f.sb.Name()) {
		t.Errorf("after the server ended the pooled backend %d: got backend %d with search_path %q", pid1, pid4, path4)
	}
}

// TestServerEndingTheSessionEndsTheClients checks that when the server
// ends a session without a reply (a backend killed in a crash restart), the
// proxy closes the client's connection as the server did, instead of
// leaving the client waiting for the reply (and the attempt for its
// timeout). The server is a fake that authenticates, then closes the
// connection on the first query.
func TestServerEndingTheSessionEndsTheClients(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		readFrame := func(typed bool) error {
			head := make([]byte, 4)
			if typed {
				head = make([]byte, 5)
			}
			if _, err := io.ReadFull(c, head); err != nil {
				return err
			}
			body := make([]byte, binary.BigEndian.Uint32(head[len(head)-4:])-4)
			_, err := io.ReadFull(c, body)
			return err
		}
		if readFrame(false) != nil { // the startup message
			return
		}
		c.Write([]byte{'R', 0, 0, 0, 8, 0, 0, 0, 0, 'Z', 0, 0, 0, 5, 'I'}) // AuthenticationOk, ReadyForQuery
		readFrame(true)                                                    // the query, never answered
	}()
	a := faults.New("tcp", ln.Addr().String()).NewAttempt(nil)
	cfg, err := pgx.ParseConfig("postgres://writer@127.0.0.1/db?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	cfg.DialFunc = a.DialContext
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // only so that a hang ends
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "SELECT 1")
	if err == nil || ctx.Err() != nil {
		t.Fatalf("the client was left waiting for the reply of a server that had gone: %v", err)
	}
	t.Logf("the client sees: %v", err)
}

// A closed attempt admits no connection. pgx sends a cancel request from a
// goroutine of its own when it closes a connection after a timeout; were
// it admitted after the attempt closed, it would reach the pooled backend
// that the next attempt now uses and cancel that attempt's statement (and
// race with Close, which waits for the attempt's connections).
func TestClosedAttemptAdmitsNoConnection(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.proxy.EnablePool(1)
	t.Cleanup(f.proxy.Close)
	a := f.proxy.NewAttempt(nil)
	connA := fronts["dialer"](t, f, a)
	connA.Close(ctx)
	a.Close()
	if err := connA.PgConn().CancelRequest(ctx); !errors.Is(err, faults.ErrClosed) {
		t.Fatalf("a cancel request through a closed attempt: %v, want ErrClosed", err)
	}

	b := f.proxy.NewAttempt(nil)
	defer b.Close()
	connB := fronts["dialer"](t, f, b)
	defer connB.Close(ctx)
	if connB.PgConn().PID() != connA.PgConn().PID() {
		t.Logf("the pool gave the next attempt another backend (%d, then %d)", connA.PgConn().PID(), connB.PgConn().PID())
	}
	done := make(chan error, 1)
	go func() {
		_, err := connB.Exec(ctx, "SELECT pg_sleep(0.3)")
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // let the statement start: what is checked is that it is not cancelled
	_ = connA.PgConn().CancelRequest(ctx)
	if err := <-done; err != nil {
		t.Fatalf("the next attempt's statement failed after a cancel request of the closed attempt's connection: %v", err)
	}

	// Connections dialled while Close runs are admitted (and waited for)
	// or refused, never raced with (run under -race).
	for range 20 {
		a := f.proxy.NewAttempt(nil)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if c, err := a.DialContext(ctx, "", ""); err == nil {
					c.Close()
				} else if !errors.Is(err, faults.ErrClosed) {
					t.Errorf("dial during Close: %v", err)
				}
			})
		}
		a.Close()
		wg.Wait()
		if _, err := a.DialContext(ctx, "", ""); !errors.Is(err, faults.ErrClosed) {
			t.Errorf("dial after Close: %v, want ErrClosed", err)
		}
	}
}
