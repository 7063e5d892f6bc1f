package reference

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/jackc/pgx/v5"
)

// partitions returns the distinct event dates of orders, sorted, so that
// locks are always taken in the same order (no deadlocks between attempts).
func partitions(orders []harness.Order) []string {
	seen := map[string]bool{}
	var out []string
	for _, o := range orders {
		if d := o.EventDate.String(); !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// lockPartitions serializes writers of the same partitions of table until
// the end of tx, in sorted order.
func lockPartitions(ctx context.Context, tx pgx.Tx, table string, parts []string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1), hashtext(p)) FROM unnest($2::text[]) p ORDER BY p`, table, parts)
	if err != nil {
		return fmt.Errorf("lock partitions of %s: %w", table, err)
	}
	return nil
}

// inTx runs fn in one transaction on the attempt's connection.
func inTx(ctx context.Context, env *harness.Env, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, env.Conn, fn)
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func orDefault(name, def string) string {
	if name == "" {
		return def
	}
	return name
}

// columns turns orders into one slice per column, for unnest($1::text[], ...):
// the batch travels as six array parameters of one statement, which costs
// less than COPY into a temporary table and a second scan of it.
func columns(orders []harness.Order) []any {
	src := make([]string, len(orders))
	ids := make([]int64, len(orders))
	vers := make([]int64, len(orders))
	days := make([]time.Time, len(orders))
	custs := make([]string, len(orders))
	amts := make([]string, len(orders))
	for i, o := range orders {
		src[i], ids[i], vers[i], days[i], custs[i], amts[i] = o.Source, o.ID, o.Version, o.EventDate.Time, o.Customer, o.Amount
	}
	return []any{src, ids, vers, days, custs, amts}
}

// unnestSQL selects the columns passed by columns as rows.
const unnestSQL = `SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::date[], $5::text[], $6::numeric[])
	AS b(source, id, version, event_date, customer, amount)`

// latest keeps one order per key: the highest version, and among equal
// versions the least by a total order on the other fields, so the choice
// never depends on the order of the records. The result is sorted by key,
// which also gives the index a sequential access pattern.
func latest[K comparable](orders []harness.Order, key func(harness.Order) K, compare func(a, b K) int) []harness.Order {
	increasing := true // the common case: one record per key, in key order
	for i := 1; i < len(orders) && increasing; i++ {
		increasing = compare(key(orders[i-1]), key(orders[i])) < 0
	}
	if increasing {
		return orders
	}
	best := make(map[K]int, len(orders))
	for i, o := range orders {
		j, ok := best[key(o)]
		if !ok || newer(o, orders[j]) {
			best[key(o)] = i
		}
	}
	out := make([]harness.Order, 0, len(best))
	for _, i := range best {
		out = append(out, orders[i])
	}
	slices.SortFunc(out, func(a, b harness.Order) int { return compare(key(a), key(b)) })
	return out
}

// latestByID is latest keyed by the natural key.
func latestByID(orders []harness.Order) []harness.Order {
	return latest(orders, func(o harness.Order) int64 { return o.ID }, cmp.Compare[int64])
}

type dayID struct {
	day time.Time
	id  int64
}

// latestByDayID is latest keyed by partition and natural key.
func latestByDayID(orders []harness.Order) []harness.Order {
	return latest(orders, func(o harness.Order) dayID { return dayID{o.EventDate.Time, o.ID} },
		func(a, b dayID) int { return cmp.Or(a.day.Compare(b.day), cmp.Compare(a.id, b.id)) })
}

// newer orders two records of one key: higher version first, then a total
// order on the remaining fields.
func newer(a, b harness.Order) bool {
	if a.Version != b.Version {
		return a.Version > b.Version
	}
	return cmp.Or(cmp.Compare(a.Source, b.Source), a.EventDate.Compare(b.EventDate.Time),
		cmp.Compare(a.Customer, b.Customer), cmp.Compare(a.Amount, b.Amount)) < 0
}
