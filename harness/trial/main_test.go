package trial

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// target is the PostgreSQL the package's tests share, found by the default
// chain (so IDEMCHECK_DATABASE_URL and IDEMCHECK_TARGET steer it).
var target *Target

func TestMain(m *testing.M) {
	if child := os.Getenv("IDEMCHECK_TEST_CHILD"); child != "" {
		os.Exit(runChild(child))
	}
	t, err := OpenTarget(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Fprintln(os.Stderr, "harness tests on", t)
	target = t
	code := m.Run()
	if err := t.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "close target:", err)
		code = 1
	}
	os.Exit(code)
}

// sandbox returns a fresh schema sandbox on the shared target, dropped when
// the test ends.
func sandbox(t testing.TB, opts ...SandboxOption) *Sandbox {
	t.Helper()
	sb, err := target.NewSandbox(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Drop(context.Background()) })
	return sb
}

// connectThroughProxy connects into sb through a fault-free attempt of
// tg's proxy; done closes the connection, then the attempt.
func connectThroughProxy(t testing.TB, tg *Target, sb *Sandbox) (conn *pgx.Conn, done func()) {
	t.Helper()
	a := tg.Proxy().NewAttempt(nil)
	cfg := sb.ConnConfig()
	cfg.DialFunc = a.DialContext
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		a.Close()
		t.Fatalf("connect through the proxy of %s: %v", tg, err)
	}
	return conn, func() { conn.Close(context.Background()); a.Close() }
}

// execSQL runs sql in sb.
func execSQL(t testing.TB, sb *Sandbox, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := sb.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func snapshot(t testing.TB, sb *Sandbox) *State {
	t.Helper()
	st, err := Snapshot(context.Background(), sb)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
