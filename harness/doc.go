// Package harness is the contract between a pipeline's write step and
// idemcheck: what a writer implements and sees, and nothing that runs it.
// It imports only the standard library, pgx and package faults (the fault
// plans a Scenario names), so a writer's package, and a reference writer
// copied into another module, pulls no Docker, no cluster management and
// no test machinery.
//
// A Writer is the write step: Setup once per sandbox, Write once per
// delivery attempt of a Batch, touching the database only through its Env
// (Conn, and Connect or ConnString for more connections), which is what
// lets the runner put the fault proxy in between; a writer that never uses
// Conn says so (ConnectsItself) and gets none. A writer may claim only
// some Laws (Claimer). Order is the default record, with its table shape
// (OrderColumns, OrderColumnsSQL, OrderRows). A Scenario is what one trial
// does, as data: the batches, and the deliveries with each attempt's
// faults, lost acks and zombies.
//
// Package harness/consumer runs long-running consumers that read Kafka
// themselves (their contract, scenarios and runner), on a broker of
// package harness/kafka. Package harness/trial runs writers: it finds or starts a PostgreSQL,
// sandboxes each run, plays a Scenario through the fault proxy, snapshots
// and compares states. Package properties states the laws and certifies
// writers against them.
package harness
