package reference_test

import (
	"context"
	"fmt"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/idemcheck/idemcheck/reference"
)

// write runs w's Setup, then each batch, in a fresh sandbox, and prints the
// rows of table.
func write(w harness.Writer[harness.Order], table string, batches ...harness.Batch[harness.Order]) {
	ctx := context.Background()
	sb, err := reference.SharedTarget().NewSandbox(ctx)
	if err != nil {
		panic(err)
	}
	defer sb.Drop(ctx)
	conn, err := sb.Connect(ctx)
	if err != nil {
		panic(err)
	}
	defer conn.Close(ctx)
	env := &harness.Env{Conn: conn, Attempt: 1, Sandbox: sb.Name(), Via: sb}
	if err := w.Setup(ctx, env); err != nil {
		panic(err)
	}
	for _, b := range batches {
		if err := w.Write(ctx, env, b); err != nil {
			panic(err)
		}
	}
	st, err := trial.Snapshot(ctx, sb)
	if err != nil {
		panic(err)
	}
	for _, r := range st.Tables[table].Rows {
		fmt.Println(r...)
	}
}

func order(id, version int64, day int, amount string) harness.Order {
	return harness.Order{Source: "shop", ID: id, Version: version, EventDate: harness.NewDate(2026, 11, day), Customer: "c", Amount: amount}
}

func batch(n int, orders ...harness.Order) harness.Batch[harness.Order] {
	return harness.Batch[harness.Order]{ID: fmt.Sprint("b", n), Records: orders, LogicalTime: time.Date(2026, 11, 1, 0, n, 0, 0, time.UTC)}
}

// Upsert keeps the latest version of each order, whatever the order and
// the number of deliveries: here version 2 arrives first, then version 1
// late, then version 2 again.
func ExampleUpsert() {
	v1 := batch(1, order(7, 1, 1, "10.00"))
	v2 := batch(2, order(7, 2, 1, "12.50"))
	write(reference.Upsert{}, "orders", v2, v1, v2)
	// Output:
	// shop 7 2 2026-11-01 c 12.5
}

// PartitionOverwrite replaces each day the batch touches: delivering the
// same day twice leaves it once.
func ExamplePartitionOverwrite() {
	day1 := batch(1, order(1, 1, 1, "10"), order(2, 1, 1, "20"))
	write(reference.PartitionOverwrite{}, "orders_by_day", day1, day1)
	// Output:
	// shop 1 1 2026-11-01 c 10
	// shop 2 1 2026-11-01 c 20
}

// Dedup appends each record once, by its key source:id:version.
func ExampleDedup() {
	b := batch(1, order(1, 1, 1, "10"), order(1, 2, 1, "11"))
	write(reference.Dedup{}, "orders_log", b, b)
	// Output:
	// shop 1 1 2026-11-01 c 10
	// shop 1 2 2026-11-01 c 11
}

// Aggregate writes daily totals by partition overwrite: a replay writes the
// same totals again instead of adding them twice.
func ExampleAggregate() {
	b := batch(1, order(1, 1, 1, "10"), order(2, 1, 1, "2.50"), order(3, 1, 2, "1"))
	write(reference.Aggregate{}, "daily_totals", b, b)
	// Output:
	// 2026-11-01 2 12.5
	// 2026-11-02 1 1
}
