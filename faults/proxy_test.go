package faults_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idemcheck/idemcheck/faults"
	"github.com/idemcheck/idemcheck/harness/trial"
	rt "github.com/idemcheck/idemcheck/internal/reftest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var target *trial.Target

func TestMain(m *testing.M) {
	for _, arg := range os.Args {
		if strings.HasPrefix(arg, "-test.fuzzworker") || strings.HasPrefix(arg, "-test.fuzz=") {
			os.Exit(m.Run()) // fuzzing needs no database
		}
	}
	os.Exit(rt.Main(m, &target))
}

// fixture is a sandbox with table t and a proxy to its server.
type fixture struct {
	t     testing.TB
	sb    *trial.Sandbox
	proxy *faults.Proxy
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	sb, err := target.NewSandbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Drop(context.Background()) })
	cfg := sb.ConnConfig()
	f := &fixture{t: t, sb: sb, proxy: faults.New(pgconn.NetworkAddress(cfg.Host, cfg.Port))}
	f.admin("CREATE TABLE t (id int PRIMARY KEY, v text)")
	return f
}

func (f *fixture) admin(sql string, args ...any) {
	f.t.Helper()
	conn, err := f.sb.Connect(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
}

func (f *fixture) count() int {
	f.t.Helper()
	var n int
	if err := target.Admin().QueryRow(context.Background(), "SELECT count(*) FROM "+pgx.Identifier{f.sb.Name(), "t"}.Sanitize()).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// front is a way of connecting through an attempt.
type front func(t *testing.T, f *fixture, a *faults.Attempt) *pgx.Conn

var fronts = map[string]front{
	"dialer": func(t *testing.T, f *fixture, a *faults.Attempt) *pgx.Conn {
		cfg := f.sb.ConnConfig()
		cfg.DialFunc = a.DialContext
		conn, err := pgx.ConnectConfig(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return conn
	},
	"tcp": func(t *testing.T, f *fixture, a *faults.Attempt) *pgx.Conn {
		addr, err := a.Listen()
		if err != nil {
			t.Fatal(err)
		}
		cfg := f.sb.ConnConfig()
		host, port, _ := strings.Cut(addr, ":")
		conn, err := pgx.Connect(context.Background(), fmt.Sprintf("host=%s port=%s user=%s dbname=%s sslmode=prefer options='-c search_path=%s'", host, port, cfg.User, cfg.Database, f.sb.Name()))
		if err != nil {
			t.Fatal(err)
		}
		return conn
	},
}

// forEachFront runs fn through each front, with fresh backends and with
// pooled ones (which must be indistinguishable).
func forEachFront(t *testing.T, fn func(t *testing.T, f *fixture, connect func(*faults.Attempt) *pgx.Conn)) {
	for name, fr := range fronts {
		for _, pooled := range []bool{false, true} {
			if pooled {
				name += "+pool"
			}
			t.Run(name, func(t *testing.T) {
				f := newFixture(t)
				if pooled {
					f.proxy.EnablePool(4)
					t.Cleanup(f.proxy.Close)
				}
				fn(t, f, func(a *faults.Attempt) *pgx.Conn { return fr(t, f, a) })
			})
		}
	}
}

// txWrite runs BEGIN; INSERT; INSERT; COMMIT (rounds 1 to 4).
func txWrite(conn *pgx.Conn) error {
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "INSERT INTO t VALUES (1, 'a')"); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "INSERT INTO t VALUES ($1, $2)", 2, "b"); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func TestNoFaultPassesEverythingThrough(t *testing.T) {
	forEachFront(t, func(t *testing.T, f *fixture, connect func(*faults.Attempt) *pgx.Conn) {
		ctx := context.Background()
		a := f.proxy.NewAttempt(nil)
		conn := connect(a)
		defer conn.Close(ctx)
		if err := txWrite(conn); err != nil {
			t.Fatal(err)
		}
		// A pipelined batch: many Parse/Bind/Execute before one Sync.
		b := &pgx.Batch{}
		for i := 10; i < 20; i++ {
			b.Queue("INSERT INTO t VALUES ($1, 'batch')", i)
		}
		b.Queue("SELECT count(*) FROM t")
		if err := conn.SendBatch(ctx, b).Close(); err != nil {
			t.Fatal(err)
		}
		// COPY FROM STDIN.
		rows := make([][]any, 10000)
		for i := range rows {
			rows[i] = []any{1000 + i, "copy"}
		}
		n, err := conn.CopyFrom(ctx, pgx.Identifier{"t"}, []string{"id", "v"}, pgx.CopyFromRows(rows))
		if err != nil || n != 10000 {
			t.Fatalf("CopyFrom: %d, %v", n, err)
		}
		// COPY TO STDOUT, notices and errors.
		var out strings.Builder
		if _, err := conn.PgConn().CopyTo(ctx, &out, "COPY (SELECT id FROM t WHERE id < 3 ORDER BY id) TO STDOUT"); err != nil || out.String() != "1\n2\n" {
			t.Fatalf("CopyTo: %q, %v", out.String(), err)
		}
		if _, err := conn.Exec(ctx, "DO $$BEGIN RAISE NOTICE 'hello'; END$$"); err != nil {
			t.Fatal(err)
		}
		var pgErr *pgconn.PgError
		if _, err := conn.Exec(ctx, "INSERT INTO t VALUES (1, 'dup')"); !errors.As(err, &pgErr) || pgErr.Code != "23505" {
			t.Fatalf("want a unique violation through the proxy, got %v", err)
		}
		// Several statements in one simple Query.
		if _, err := conn.PgConn().Exec(ctx, "INSERT INTO t VALUES (7, 'x'); UPDATE t SET v = 'y' WHERE id = 7").ReadAll(); err != nil {
			t.Fatal(err)
		}
		if got := f.count(); got != 2+10+10000+1 {
			t.Errorf("%d rows, want %d", got, 2+10+10000+1)
		}
		if len(a.Fired()) != 0 || a.Crashed() {
			t.Errorf("no fault was planned, but %v fired", a.Fired())
		}
	})
}

func TestCrashBeforeCommitLeavesNothing(t *testing.T) {
	forEachFront(t, func(t *testing.T, f *fixture, connect func(*faults.Attempt) *pgx.Conn) {
		a := f.proxy.NewAttempt(faults.Plan{{Kind: faults.CrashBefore, At: faults.AtCommit(1)}})
		conn := connect(a)
		defer conn.Close(context.Background())
		if err := txWrite(conn); err == nil {
			t.Fatal("the commit succeeded through a crash")
		}
		waitGone(t, a)
		if n := f.count(); n != 0 {
			t.Errorf("%d rows after a crash before COMMIT, want 0", n)
		}
		if !a.Crashed() || len(a.Fired()) != 1 {
			t.Errorf("crashed %v, fired %v", a.Crashed(), a.Fired())
		}
	})
}

func TestCrashAfterCommitIsTheAmbiguousCommit(t *testing.T) {
	forEachFront(t, func(t *testing.T, f *fixture, connect func(*faults.Attempt) *pgx.Conn) {
		a := f.proxy.NewAttempt(faults.Plan{{Kind: faults.CrashAfter, At: faults.AtCommit(1)}})
		conn := connect(a)
		defer conn.Close(context.Background())
		err := txWrite(conn)
		if err == nil {
			t.Fatal("the client saw the commit succeed although its reply was lost")
		}
		if pgconn.SafeToRetry(err) {
			t.Errorf("pgconn.SafeToRetry(%v) = true; an ambiguous commit is not safe to retry blindly", err)
		}
		if n := f.count(); n != 2 {
			t.Errorf("%d rows after a crash after COMMIT ran, want 2 (committed)", n)
		}
		ev := a.Events()
		last := ev[len(ev)-1]
		if !last.Committed || last.Fault == nil || last.Fault.String() != "crash-after at commit 1" {
			t.Errorf("the timeline's last event should be the committed, faulted COMMIT: %v", last)
		}
	})
}

func TestCrashInCopyLeavesNothing(t *testing.T) {
	forEachFront(t, func(t *testing.T, f *fixture, connect func(*faults.Attempt) *pgx.Conn) {
		a := f.proxy.NewAttempt(faults.Plan{{Kind: faults.CrashInCopy, CopyData: 1, At: faults.AtCopy(1)}})
		conn := connect(a)
		defer conn.Close(context.Background())
		rows := make([][]any, 50000)
		for i := range rows {
			rows[i] = []any{i, strings.Repeat("x", 20)}
		}
		if _, err := conn.CopyFrom(context.Background(), pgx.Identifier{"t"}, []string{"id", "v"}, pgx.CopyFromRows(rows)); err == nil {
			t.Fatal("COPY succeeded through a crash")
		}
		waitGone(t, a)
		if n := f.count(); n != 0 {
			t.Errorf("%d rows after a crash inside COPY, want 0", n)
		}
	})
}

func TestSyntheticErrorNeverRuns(t *testing.T) {
	for _, code := range []string{"40001", "40P01", "57P01", "08006"} {
		t.Run(code, func(t *testing.T) {
			forEachFront(t, func(t *testing.T, f *fixture, connect func(*faults.Attempt) *pgx.Conn) {
				// Round 2 is the first INSERT, inside the transaction.
				a := f.proxy.NewAttempt(faults.Plan{{Kind: faults.Error, SQLState: code, At: faults.AtStmt(1, 1)}})
				conn := connect(a)
				defer conn.Close(context.Background())
				err := txWrite(conn)
				var pgErr *pgconn.PgError
				if !errors.As(err, &pgErr) || pgErr.Code != code {
					t.Fatalf("want SQLSTATE %s from the injected error, got %v", code, err)
				}
				conn.Close(context.Background()) // the attempt ends: a retry would get a new connection
				waitGone(t, a)
				if n := f.count(); n != 0 {
					t.Errorf("%d rows: the failed transaction must leave nothing", n)
				}
				// The statement never ran: an unguarded autocommit insert of the same key works.
				f.admin("INSERT INTO t VALUES (1, 'after')")
			})
		})
	}
}

func TestPauseHoldsTheTransactionOpen(t *testing.T) {
	forEachFront(t, func(t *testing.T, f *fixture, connect func(*faults.Attempt) *pgx.Conn) {
		ctx := context.Background()
		f.admin("INSERT INTO t VALUES (1, 'old')")
		first := f.proxy.NewAttempt(faults.Plan{{Kind: faults.Pause, At: faults.AtCommit(1)}})
		c1 := connect(first)
		defer c1.Close(ctx)
		done1 := make(chan error, 1)
		go func() {
			tx, err := c1.Begin(ctx)
			if err == nil {
				_, err = tx.Exec(ctx, "UPDATE t SET v = 'first' WHERE id = 1")
			}
			if err == nil {
				err = tx.Commit(ctx)
			}
			done1 <- err
		}()
		<-first.Paused()

		second := f.proxy.NewAttempt(nil)
		c2 := connect(second)
		defer c2.Close(ctx)
		var pid uint32 = c2.PgConn().PID()
		done2 := make(chan error, 1)
		go func() {
			_, err := c2.Exec(ctx, "UPDATE t SET v = 'second' WHERE id = 1")
			done2 <- err
		}()
		if !waitsForLock(t, pid) {
			t.Fatal("the second attempt did not block on the paused first one's row lock")
		}
		first.Release()
		if err := <-done1; err != nil {
			t.Fatal(err)
		}
		if err := <-done2; err != nil {
			t.Fatal(err)
		}
		var v string
		target.Admin().QueryRow(ctx, "SELECT v FROM "+pgx.Identifier{f.sb.Name(), "t"}.Sanitize()+" WHERE id = 1").Scan(&v)
		if v != "second" {
			t.Errorf("v = %q, want second (it waited, then overwrote)", v)
		}
	})
}

func TestKillWhilePausedRollsBack(t *testing.T) {
	forEachFront(t, func(t *testing.T, f *fixture, connect func(*faults.Attempt) *pgx.Conn) {
		a := f.proxy.NewAttempt(faults.Plan{{Kind: faults.Pause, At: faults.AtCommit(1)}})
		conn := connect(a)
		defer conn.Close(context.Background())
		done := make(chan error, 1)
		go func() { done <- txWrite(conn) }()
		<-a.Paused()
		a.Kill()
		if err := <-done; err == nil {
			t.Fatal("a killed attempt committed")
		}
		waitGone(t, a)
		if n := f.count(); n != 0 {
			t.Errorf("%d rows after killing the zombie before its COMMIT", n)
		}
	})
}

func TestKilledExternalCommandRollsBack(t *testing.T) {
	if _, err := exec.LookPath("psql"); err != nil {
		t.Fatal("psql is needed (apt-get install postgresql-client); .ci/run installs it")
	}
	f := newFixture(t)
	// The crash point is the round after the INSERT: the long sleep.
	a := f.proxy.NewAttempt(faults.Plan{{Kind: faults.CrashBefore, At: faults.AtStmt(1, 2)}})
	addr, err := a.Listen()
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command("sh", "-c", `psql -X -q -v ON_ERROR_STOP=1 -c 'BEGIN' -c "INSERT INTO t VALUES (1, 'ext')" -c 'SELECT pg_sleep(60)' -c 'COMMIT'; sleep 60`)
	cmd.Env = append(os.Environ(), "PGHOST="+host, "PGPORT="+port, "PGUSER="+f.sb.ConnConfig().User,
		"PGDATABASE="+f.sb.ConnConfig().Database, "PGOPTIONS=-c search_path="+f.sb.Name())
	var p *faults.Process
	started := make(chan struct{})
	a.SetBeforeCrash(func() { <-started; p.Kill() })
	p, err = faults.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	close(started)
	err = p.Wait(time.Minute)
	if !p.Killed() || errors.Is(err, faults.ErrTimeout) {
		t.Fatalf("the command should have been killed at the crash point, got %v", err)
	}
	waitGone(t, a)
	if n := f.count(); n != 0 {
		t.Errorf("%d rows after killing the writer mid-transaction", n)
	}
	ev := a.Events()
	if len(ev) == 0 || ev[len(ev)-1].Fault == nil || !strings.Contains(ev[len(ev)-1].SQL, "pg_sleep") {
		t.Errorf("timeline does not end in the faulted pg_sleep round: %v", ev)
	}
}

func TestTimeoutKillsTheProcessGroup(t *testing.T) {
	p, err := faults.Start(exec.Command("sh", "-c", "sleep 60 & sleep 60; wait"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(200 * time.Millisecond); !errors.Is(err, faults.ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
}

func TestPsqlThroughTheProxy(t *testing.T) {
	if _, err := exec.LookPath("psql"); err != nil {
		t.Fatal("psql is needed (apt-get install postgresql-client); .ci/run installs it")
	}
	f := newFixture(t)
	a := f.proxy.NewAttempt(nil)
	addr, err := a.Listen()
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(addr, ":")
	data := "1\tone\n2\ttwo\n3\tthree\n"
	cmd := exec.Command("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", `\copy t FROM STDIN`, "-c", "BEGIN; UPDATE t SET v = upper(v); COMMIT;")
	cmd.Stdin = strings.NewReader(data)
	cmd.Env = append(os.Environ(), "PGHOST="+host, "PGPORT="+port, "PGUSER="+f.sb.ConnConfig().User,
		"PGDATABASE="+f.sb.ConnConfig().Database, "PGOPTIONS=-c search_path="+f.sb.Name(), "PGSSLMODE=prefer")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("psql through the proxy: %v\n%s", err, out)
	}
	if n := f.count(); n != 3 {
		t.Errorf("%d rows, want 3", n)
	}
	var commits int
	for _, e := range a.Events() {
		if e.Committed {
			commits++
		}
	}
	if commits != 2 { // the \copy (autocommit) and the one Query holding BEGIN..COMMIT
		t.Errorf("%d committing rounds, want 2: %v", commits, a.Events())
	}
}

// A crash after a COPY round must still let the COPY run: psql waits for
// CopyInResponse before it sends a byte, so swallowing it with the rest of
// the reply would leave psql and the server waiting on each other until
// the attempt's timeout (a bug the CLI's shell writers found).
func TestCrashAfterCopyLetsTheCopyRun(t *testing.T) {
	if _, err := exec.LookPath("psql"); err != nil {
		t.Fatal("psql is needed (apt-get install postgresql-client); .ci/run installs it")
	}
	f := newFixture(t)
	a := f.proxy.NewAttempt(faults.Plan{{Kind: faults.CrashAfter, At: faults.AtCopy(1)}})
	addr, err := a.Listen()
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", `\copy t FROM STDIN`)
	cmd.Stdin = strings.NewReader("1\tone\n2\ttwo\n")
	cmd.Env = append(os.Environ(), "PGHOST="+host, "PGPORT="+port, "PGUSER="+f.sb.ConnConfig().User,
		"PGDATABASE="+f.sb.ConnConfig().Database, "PGOPTIONS=-c search_path="+f.sb.Name(), "PGSSLMODE=disable")
	p, err := faults.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	a.SetBeforeCrash(p.Kill)
	err = p.Wait(20 * time.Second)
	if errors.Is(err, faults.ErrTimeout) {
		t.Fatal("psql hung in a COPY whose round was to crash after its reply")
	}
	if !a.Crashed() {
		t.Fatalf("the attempt did not crash: %v (%v)", err, a.Events())
	}
	waitGone(t, a)
	if n := f.count(); n != 2 {
		t.Errorf("%d rows after a crash after the COPY committed, want 2", n)
	}
	if ev := a.Events(); len(ev) != 1 || !ev[0].Committed || ev[0].Fault == nil || ev[0].Fault.String() != "crash-after at copy 1" {
		t.Errorf("timeline %v, want the committed COPY round with its fault", ev)
	}
}

func TestSamePlanSameTimeline(t *testing.T) {
	plans := []faults.Plan{
		nil,
		{{Kind: faults.CrashAfter, At: faults.AtCommit(1)}},
		{{Kind: faults.Error, SQLState: "40001", At: faults.AtRound(3)}},
		{{Kind: faults.CrashInCopy, CopyData: 2, At: faults.AtCopy(1)}},
	}
	for _, plan := range plans {
		t.Run(plan.String(), func(t *testing.T) {
			var first []faults.Event
			for i := range 4 {
				f := newFixture(t)
				a := f.proxy.NewAttempt(plan)
				conn := fronts["dialer"](t, f, a)
				_ = txWrite(conn)
				rows := [][]any{{100, "a"}, {101, "b"}}
				_, _ = conn.CopyFrom(context.Background(), pgx.Identifier{"t"}, []string{"id", "v"}, pgx.CopyFromRows(rows))
				conn.Close(context.Background())
				a.Close()
				ev := a.Events()
				if i == 0 {
					first = ev
					continue
				}
				if fmt.Sprint(ev) != fmt.Sprint(first) {
					t.Fatalf("run %d gave another timeline:\n%v\nfirst:\n%v", i, ev, first)
				}
			}
			t.Logf("timeline: %v", first)
		})
	}
}

// waitGone settles a crashed attempt: its pooled backends are reset, and
// the ones it disconnected have ended, so their transactions are rolled
// back.
func waitGone(t *testing.T, a *faults.Attempt) {
	t.Helper()
	a.Close()
	pids := a.ClosedPIDs()
	for range 6000 { // 30 s at most
		var n int
		if err := target.Admin().QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)", pids).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("backends %v of the crashed attempt are still there", pids)
}

func waitsForLock(t *testing.T, pid uint32) bool {
	for range 6000 { // 30 s at most
		var waiting bool
		err := target.Admin().QueryRow(context.Background(), "SELECT coalesce(wait_event_type = 'Lock', false) FROM pg_stat_activity WHERE pid = $1", pid).Scan(&waiting)
		if err == nil && waiting {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

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
