package trial

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// baseline is what Setup left in a sandbox: enough to check and restore it.
type baseline struct {
	signature string
	tables    []string // quoted, qualified: every ordinary table (partitions too), in foreign-key order
	oids      []uint32 // the same tables' oids (in any order), for the check after VACUUM
	sequences []sequenceState
}

type sequenceState struct {
	name     string // quoted, qualified
	last     int64
	isCalled bool
}

// adopt records what Setup left in sb, so Release can bring it back; it
// disables r when that cannot be restored. A sandbox it cannot adopt (an
// error) is dropped by Release, as without reuse.
func (r *Reuse) adopt(ctx context.Context, sb *Sandbox) {
	if r.Disabled() != "" || sb.mode != SchemaSandbox {
		return
	}
	if err := r.readBaseline(ctx, sb); err != nil {
		r.lastErr.Store(&err)
	}
}

// readBaseline reads what Setup left in sb and makes sb r's.
func (r *Reuse) readBaseline(ctx context.Context, sb *Sandbox) error {
	b, refs, why, err := readRelations(ctx, sb)
	if err != nil {
		return err
	}
	if why == "" {
		var ok bool
		if b.tables, ok = deleteOrder(b.tables, refs); !ok {
			why = "setup creates tables whose foreign keys refer to each other in a cycle"
		}
	}
	if why == "" {
		left, err := rowsLeft(ctx, sb, b.tables)
		if err != nil {
			return err
		}
		if left {
			why = "setup leaves rows in its tables"
		}
	}
	if why != "" {
		r.disable(why)
		return nil
	}
	if err := readSequences(ctx, sb, b.sequences); err != nil {
		return err
	}
	// Every run, the first included, starts from vacuumed tables.
	if err := vacuum(ctx, sb, &b, 0); err != nil { // new, empty tables: nothing for an old snapshot to see
		return err
	}
	if err := sb.t.admin.QueryRow(ctx, signatureSQL, sb.name).Scan(&b.signature); err != nil {
		return fmt.Errorf("trial: read the catalog signature of %s: %w", sb.name, err)
	}
	sb.reuse, sb.base = r, &b // before the run's attempts, so no one else reads them yet
	return nil
}

// readRelations reads the relations Setup left in sb: its tables (and
// each one's foreign key references) and sequences, or why a restore
// cannot bring the sandbox back (a relation it cannot empty, row level
// security, a DELETE trigger or rule).
func readRelations(ctx context.Context, sb *Sandbox) (b baseline, refs map[string][]string, why string, err error) {
	rows, err := sb.t.admin.Query(ctx, `
		SELECT c.oid, c.relkind::text, format('%I.%I', n.nspname, c.relname), c.relrowsecurity,
		       EXISTS (SELECT FROM pg_trigger g WHERE g.tgrelid = c.oid AND NOT g.tgisinternal AND g.tgtype & 8 <> 0),
		       EXISTS (SELECT FROM pg_rewrite w WHERE w.ev_class = c.oid AND w.ev_type = '4'),
		       array(SELECT format('%I.%I', fn.nspname, fc.relname) FROM pg_constraint k
		             JOIN pg_class fc ON fc.oid = k.confrelid JOIN pg_namespace fn ON fn.oid = fc.relnamespace
		             WHERE k.conrelid = c.oid AND k.contype = 'f' AND k.confrelid <> c.oid)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 ORDER BY c.oid`, sb.name)
	if err != nil {
		return b, nil, "", fmt.Errorf("trial: read what setup left in %s: %w", sb.name, err)
	}
	refs = map[string][]string{}
	for rows.Next() {
		var oid uint32
		var kind, name string
		var rls, deleteTrigger, deleteRule bool
		var references []string
		if err := rows.Scan(&oid, &kind, &name, &rls, &deleteTrigger, &deleteRule, &references); err != nil {
			return b, nil, "", err
		}
		switch {
		case kind == "m":
			why = "setup creates materialized view " + name + ", which a restore cannot empty"
		case kind == "f":
			why = "setup creates foreign table " + name + ", which a restore cannot empty"
		case rls:
			why = "setup enables row level security on " + name
		case deleteTrigger:
			why = "setup creates a DELETE trigger on " + name + ", which emptying it would fire"
		case deleteRule:
			why = "setup creates a DELETE rule on " + name + ", which emptying it would apply"
		case kind == "r":
			b.tables = append(b.tables, name)
			b.oids = append(b.oids, oid)
			refs[name] = references
		case kind == "S":
			b.sequences = append(b.sequences, sequenceState{name: name})
		}
	}
	if err := rows.Err(); err != nil {
		return b, nil, "", fmt.Errorf("trial: read what setup left in %s: %w", sb.name, err)
	}
	return b, refs, why, nil
}

// rowsLeft reports whether any of tables has a row, in one round trip.
func rowsLeft(ctx context.Context, sb *Sandbox, tables []string) (bool, error) {
	if len(tables) == 0 {
		return false, nil
	}
	var exists []string
	for _, t := range tables {
		exists = append(exists, "EXISTS (SELECT FROM "+t+")")
	}
	var left bool
	if err := sb.t.admin.QueryRow(ctx, "SELECT "+strings.Join(exists, " OR "), pgx.QueryExecModeSimpleProtocol).Scan(&left); err != nil {
		return false, fmt.Errorf("trial: read what setup left in %s: %w", sb.name, err)
	}
	return left, nil
}

// readSequences reads where Setup left every sequence, in one round trip.
func readSequences(ctx context.Context, sb *Sandbox, seqs []sequenceState) error {
	if len(seqs) == 0 {
		return nil
	}
	var reads []string
	for _, s := range seqs {
		reads = append(reads, "SELECT last_value, is_called FROM "+s.name)
	}
	res, err := execText(ctx, sb.t.admin, strings.Join(reads, ";\n"))
	if err != nil {
		return fmt.Errorf("trial: read the sequences of %s after setup: %w", sb.name, err)
	}
	for i := range seqs {
		row := res[i].Rows[0]
		seqs[i].last, _ = strconv.ParseInt(string(row[0]), 10, 64)
		seqs[i].isCalled = string(row[1]) == "t"
	}
	return nil
}

// deleteOrder orders tables so that each comes before every table it
// refers to by a foreign key (refs), so DELETE can empty them in that
// order; false when the references form a cycle.
func deleteOrder(tables []string, refs map[string][]string) ([]string, bool) {
	referenced := map[string]int{} // how many tables not yet ordered refer to each
	for _, t := range tables {
		for _, to := range refs[t] {
			referenced[to]++
		}
	}
	var order []string
	done := map[string]bool{}
	for len(order) < len(tables) {
		progress := false
		for _, t := range tables {
			if done[t] || referenced[t] > 0 {
				continue
			}
			done[t], progress = true, true
			order = append(order, t)
			for _, to := range refs[t] {
				referenced[to]--
			}
		}
		if !progress {
			return nil, false
		}
	}
	return order, true
}
