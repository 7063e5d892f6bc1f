// Package ordertable is the one definition of how a harness.Order is stored:
// the column names, the column definitions of an orders table, and an
// order as a row for COPY. The reference writers, the anti-patterns, the
// external SQL writer and the benchmarks all use it.
package ordertable

import "github.com/idemcheck/idemcheck/harness"

// Columns are the order's columns, in row order.
var Columns = []string{"source", "id", "version", "event_date", "customer", "amount"}

// ColumnsSQL defines Columns for CREATE TABLE.
const ColumnsSQL = `source text NOT NULL, id bigint NOT NULL, version bigint NOT NULL,
	event_date date NOT NULL, customer text NOT NULL, amount numeric NOT NULL`

// Rows turns orders into rows of Columns, for pgx.CopyFromRows.
func Rows(orders []harness.Order) [][]any {
	rows := make([][]any, len(orders))
	for i, o := range orders {
		rows[i] = []any{o.Source, o.ID, o.Version, o.EventDate.Time, o.Customer, o.Amount}
	}
	return rows
}
