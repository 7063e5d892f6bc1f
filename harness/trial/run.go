package trial

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// runLockClass is the first key of the advisory lock a run holds while alive;
// the second is derived from the run id. Later runs reap only the sandboxes
// of runs that no longer hold their lock.
const runLockClass int32 = 0x1de3c4ec

// run is one process's use of a Target: its id, its liveness lock and the
// sandboxes it created.
type run struct {
	id     string
	key    int32
	lockMu sync.Mutex
	lock   *pgx.Conn // holds the run's advisory lock while the run is alive
	role   writerRole

	mu        sync.Mutex
	seq       int
	sandboxes map[string]*Sandbox
	// vacant: names of schema sandboxes the run dropped, for its next
	// schema sandboxes. A writer's connections carry their schema's name
	// in their startup (search_path), and the fault proxy's pool hands a
	// backend only to a client of the same startup: a new sandbox under a
	// vacant name finds the backends its predecessor's runs left, where a
	// new name would start a backend for each connection (about 20 ms on
	// a small machine).
	vacant []string
	// ending: the run is ending (Close, a signal); no sandbox is created
	// any more, and end waits for those being created (creating) before
	// it drops them all, so none is created after the drop.
	ending   bool
	creating sync.WaitGroup
}

// writerRole is the role every writer connection of a run logs in as.
type writerRole struct {
	name, password string
	// own: the run created it (LOGIN and nothing else; it owns the run's
	// sandboxes) and drops it when it ends; otherwise WriterRole named
	// an existing one.
	own bool
}

// startRole creates the run's writer role, or takes the one named.
func (r *run) startRole(ctx context.Context, t *Target, name, password string) error {
	if name != "" {
		var n int
		if err := t.admin.QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE rolname = $1 AND rolcanlogin`, name).Scan(&n); err != nil {
			return fmt.Errorf("trial: look up the writer role %q: %w", name, err)
		}
		if n == 0 {
			return fmt.Errorf("trial: the writer role %q (%s) does not exist or cannot log in; create it (CREATE ROLE %s LOGIN) or unset %s to let each run create its own", name, EnvWriterRole, quote(name), EnvWriterRole)
		}
		r.role = writerRole{name: name, password: password}
		return nil
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	// The creation time in the name lets a later run reap the role of a
	// run that died, like its sandboxes; sandbox numbers start at 1.
	role := writerRole{name: fmt.Sprintf("%s%s_%d_0", SandboxPrefix, r.id, time.Now().Unix()), password: hex.EncodeToString(b[:]), own: true}
	sql := "CREATE ROLE " + quote(role.name) + " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD '" + role.password + "'"
	if _, err := t.admin.Exec(ctx, sql); err != nil {
		return fmt.Errorf("trial: create the run's writer role: %w; the target's user needs CREATEROLE (or superuser), or name an existing unprivileged role with %s", err, EnvWriterRole)
	}
	r.role = role
	// A user that is not a superuser must be a member of the role to give
	// it sandboxes and to read what it writes.
	var super bool
	if err := t.admin.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super); err != nil {
		return fmt.Errorf("trial: look up the target's user: %w", err)
	}
	if !super {
		if _, err := t.admin.Exec(ctx, "GRANT "+quote(role.name)+" TO CURRENT_USER"); err != nil {
			return fmt.Errorf("trial: grant the run's writer role to the target's user: %w", err)
		}
	}
	return nil
}

// dropRole drops a writer role the harness created, with what it still
// owns and the privileges it was granted in the target's database; what
// it owns in a kept sandbox passes to the target's user first, so the
// sandbox stays for inspection.
func dropRole(ctx context.Context, q querier, name string) error {
	if !sandboxName.MatchString(name) {
		return fmt.Errorf("trial: refusing to drop role %q: not a role of idemcheck", name)
	}
	var errs []error
	for _, sql := range []string{"REASSIGN OWNED BY " + quote(name) + " TO CURRENT_USER", "DROP OWNED BY " + quote(name), "DROP ROLE IF EXISTS " + quote(name)} {
		if _, err := q.Exec(ctx, sql); err != nil {
			errs = append(errs, err)
			break
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("trial: drop the writer role %s: %w", name, err)
	}
	return nil
}

func startRun(ctx context.Context, t *Target) (*run, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	r := &run{id: hex.EncodeToString(b[:]), sandboxes: map[string]*Sandbox{}}
	r.key = runKey(r.id)
	conn, err := pgx.ConnectConfig(ctx, t.config)
	if err != nil {
		return nil, fmt.Errorf("trial: connect for the run lock: %w", err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1, $2)", runLockClass, r.key); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("trial: take the run lock: %w", err)
	}
	r.lock = conn
	return r, nil
}

func runKey(id string) int32 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int32(h.Sum32())
}

// end drops every sandbox of the run that is not kept and the run's own
// writer role, and releases the lock.
func (r *run) end(ctx context.Context, t *Target) error {
	r.mu.Lock()
	r.ending = true
	r.mu.Unlock()
	r.creating.Wait()
	r.mu.Lock()
	var live []*Sandbox
	for _, s := range r.sandboxes {
		if !s.kept {
			live = append(live, s)
		}
	}
	r.mu.Unlock()
	var errs []error
	for _, s := range live {
		errs = append(errs, s.Drop(ctx))
	}
	if r.role.own {
		errs = append(errs, dropRole(ctx, t.admin, r.role.name))
	}
	r.lockMu.Lock()
	errs = append(errs, r.lock.Close(ctx))
	r.lockMu.Unlock()
	return errors.Join(errs...)
}
