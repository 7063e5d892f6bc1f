package main

import (
	"fmt"
	"time"

	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/idemcheck/idemcheck/internal/external"
)

type doctorCmd struct {
	Way string `help:"Force one way of getting PostgreSQL: url, local or docker (default: the first that applies)." enum:",url,local,docker" default:""`
}

// Run finds a PostgreSQL, proves a sandbox can be created, written,
// snapshotted and dropped, and says what it found.
func (d doctorCmd) Run(e *env) error {
	var opts []trial.TargetOption
	if d.Way != "" {
		opts = append(opts, trial.ByWay(trial.Way(d.Way)))
	}
	opts = append(opts, trial.Logf(func(format string, args ...any) {
		fmt.Fprintf(e.stdout, "  · "+format+"\n", args...)
	}))
	start := time.Now()
	t, err := trial.OpenTarget(e.ctx, opts...)
	if err != nil {
		return err
	}
	defer t.Close()
	fmt.Fprintf(e.stdout, "target    %s (ready in %v)\n", t, time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(e.stdout, "run       %s; reaped %d stale sandboxes of dead runs\n", t.RunID(), t.Reaped())

	start = time.Now()
	sb, err := t.NewSandbox(e.ctx)
	if err != nil {
		return err
	}
	defer sb.Drop(e.ctx)
	fmt.Fprintf(e.stdout, "sandbox   %s (created in %v)\n", sb, time.Since(start).Round(time.Microsecond))

	conn, err := sb.Connect(e.ctx)
	if err != nil {
		return err
	}
	_, err = conn.Exec(e.ctx, `
		CREATE TABLE probe (id bigint PRIMARY KEY, amount numeric, seen date);
		INSERT INTO probe VALUES (1, 12.50, '2026-11-01'), (2, 3, '2026-11-02')`)
	conn.Close(e.ctx)
	if err != nil {
		return fmt.Errorf("doctor: write a probe table into the sandbox: %w", err)
	}
	start = time.Now()
	st, err := trial.Snapshot(e.ctx, sb)
	if err != nil {
		return err
	}
	diff, err := trial.Compare(e.ctx, st, st)
	if err != nil {
		return err
	}
	for _, name := range st.TableNames() {
		tb := st.Tables[name]
		fmt.Fprintf(e.stdout, "snapshot  table %s: %d rows, key %v, columns %d (in %v)\n", name, tb.Count, tb.Key, len(tb.Columns), time.Since(start).Round(time.Microsecond))
	}
	if !diff.Equal {
		return fmt.Errorf("doctor: a snapshot differs from itself:\n%s", diff)
	}
	if err := sb.Drop(e.ctx); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "psql      %s\n", external.Psql())
	fmt.Fprintln(e.stdout, "ok        sandbox dropped; this PostgreSQL is ready for idemcheck")
	return nil
}
