package trial

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// reap drops the sandboxes of runs that no longer hold their lock and are
// older than after. It returns how many it dropped.
func (t *Target) reap(ctx context.Context, after time.Duration) (int, error) {
	rows, err := t.admin.Query(ctx, `SELECT objid::int8 FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::int8::oid AND objsubid = 2 AND granted`, runLockClass)
	keys, err := collect(rows, err, pgx.RowTo[int64])
	if err != nil {
		return 0, fmt.Errorf("trial: reap: list live runs: %w", err)
	}
	alive := map[int32]bool{}
	for _, k := range keys {
		alive[int32(uint32(k))] = true
	}
	// reapable: the name is idemcheck's (anything else is left alone), its
	// run is dead and it is older than after.
	reapable := func(name string) bool {
		m := sandboxName.FindStringSubmatch(name)
		if m == nil {
			return false
		}
		sec, _ := strconv.ParseInt(m[2], 10, 64)
		return !alive[runKey(m[1])] && time.Since(time.Unix(sec, 0)) >= after
	}
	type sandbox struct {
		Mode SandboxMode
		Name string
	}
	rows, err = t.admin.Query(ctx, `
		SELECT 0, nspname::text FROM pg_namespace WHERE starts_with(nspname, $1)
		UNION ALL
		SELECT 1, datname::text FROM pg_database WHERE starts_with(datname, $1)`, SandboxPrefix)
	sandboxes, err := collect(rows, err, pgx.RowToStructByPos[sandbox])
	if err != nil {
		return 0, fmt.Errorf("trial: reap: list sandboxes: %w", err)
	}
	reaped := 0
	for _, v := range sandboxes {
		if !reapable(v.Name) {
			continue
		}
		if err := dropSandbox(ctx, t.admin, v.Mode, v.Name); err != nil {
			return 0, fmt.Errorf("trial: reap: %w", err)
		}
		reaped++
	}
	// Then the writer roles of dead runs (after their sandboxes, which
	// they own).
	rows, err = t.admin.Query(ctx, `SELECT rolname::text FROM pg_roles WHERE starts_with(rolname, $1)`, SandboxPrefix)
	roles, err := collect(rows, err, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("trial: reap: list roles: %w", err)
	}
	for _, name := range roles {
		if !reapable(name) {
			continue
		}
		if err := dropRole(ctx, t.admin, name); err != nil {
			return 0, fmt.Errorf("trial: reap: %w", err)
		}
		reaped++
	}
	return reaped, nil
}

// collect is pgx.CollectRows of a query's rows, or the query's error.
func collect[T any](rows pgx.Rows, err error, fn pgx.RowToFunc[T]) ([]T, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, fn)
}
