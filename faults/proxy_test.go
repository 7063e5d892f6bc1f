package faults_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
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
