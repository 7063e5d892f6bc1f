// Package faults injects failures into a writer's conversation with
// PostgreSQL at exact, named points, never at times, so that every failure
// is deterministic, shrinkable and replayable.
//
// A Plan is plain data: faults such as "crash-after at commit 1" (the
// ambiguous commit: it ran, the reply is lost) or "error 40001 at round 3".
// A Proxy relays the PostgreSQL wire protocol between a writer and the
// server and counts rounds: a round is the client's messages up to Sync or
// Query (plus any COPY data that follows) and the server's reply up to
// ReadyForQuery, whose transaction status lets points be named
// semantically ("the 2nd COMMIT", "the 1st statement inside transaction 2").
// Each Attempt applies its own plan and records a timeline of Events; an
// event carries the numbers the round has as a point (its commit, copy,
// transaction and statement), so a clean attempt's timeline is the map
// later plans are drawn from.
//
// One proxy core serves two fronts: Attempt.Listen, a TCP listener for
// external writers and any driver, and Attempt.DialContext, an in-process
// dialer for pgx (ConnConfig.DialFunc). A crash cuts every connection of
// the attempt, so the server rolls back whatever was not committed; for an
// external writer, Attempt.SetBeforeCrash(process.Kill) kills its process group (Process)
// while the connection is held still.
//
// Limits: the proxy speaks protocol 3.0 in plain text (SSL and GSS
// encryption requests are refused, so clients must allow sslmode=disable or
// prefer); with EnablePool, server backends come from a pool of reset
// ones started with the client's own startup (ROLLBACK and DISCARD ALL
// before each reuse; only where the server trusts the proxy, elsewhere
// each connection gets a fresh backend); rounds
// are numbered across an attempt's connections in the order they start,
// which is deterministic only when the writer uses them one at a time.
package faults
