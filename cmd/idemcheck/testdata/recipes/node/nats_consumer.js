// A NATS JetStream consumer of order messages with nats and pg, in the
// shape idemcheck certifies (idemcheck certify --source nats --consumer).
//
// Mode "exactly-once" (correct, the seed's pattern 3): each message is
// handled in one transaction that records its dedup key (the order's
// source, id and version) in processed_messages, ON CONFLICT DO NOTHING,
// and applies the order only when the key is new; the ack follows the
// commit.
//
// Mode "ack-first" (broken, at-most-once): the message is acked as soon
// as it arrives, then handled as above; a kill between the two loses it.
const { connect } = require("nats");
const { Client } = require("pg");

const mode = process.argv[2] || "exactly-once";
if (mode !== "exactly-once" && mode !== "ack-first") {
  console.error(`unknown mode ${mode}: want exactly-once or ack-first`);
  process.exit(2);
}
const env = process.env;
const db = new Client({ connectionString: env.DATABASE_URL });

async function handle(o) {
  await db.query("BEGIN");
  try {
    const seen = await db.query(
      "INSERT INTO processed_messages (source, id, version) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
      [o.source, o.id, o.version],
    );
    if (seen.rowCount === 1) {
      await db.query(
        "INSERT INTO order_events (source, id, version, event_date, customer, amount) VALUES ($1, $2, $3, $4, $5, $6)",
        [o.source, o.id, o.version, o.event_date, o.customer, o.amount],
      );
    }
    await db.query("COMMIT");
  } catch (err) {
    await db.query("ROLLBACK").catch(() => {});
    throw err;
  }
}

async function main() {
  await db.connect();
  const nc = await connect({ servers: env.IDEMCHECK_NATS_URL, maxReconnectAttempts: -1, reconnectTimeWait: 50 });
  const js = nc.jetstream();
  const consumer = await js.consumers.get(env.IDEMCHECK_STREAM, env.IDEMCHECK_CONSUMER);
  let stopping = false;
  process.on("SIGTERM", () => {
    stopping = true; // the batch in hand is finished, then the loop ends
  });
  while (!stopping) {
    const batch = await consumer.fetch({ max_messages: 10, expires: 1000 });
    for await (const m of batch) {
      const o = JSON.parse(m.string());
      if (mode === "ack-first") {
        m.ack();
        await nc.flush();
      }
      await handle(o);
      if (mode === "exactly-once") {
        m.ack();
      }
    }
  }
  await nc.drain(); // the acks sent
  await db.end();
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
