// A RabbitMQ consumer of order messages with amqplib and pg, in the shape
// idemcheck certifies (idemcheck certify --source amqp --consumer).
//
// Mode "exactly-once" (correct, the seed's pattern 3): each message is
// handled in one transaction that records its dedup key (the order's
// source, id and version) in processed_messages, ON CONFLICT DO NOTHING,
// and applies the order only when the key is new; the ack follows the
// commit.
//
// Mode "ack-first" (broken, at-most-once): the message is acked as soon
// as it arrives, then handled as above; a kill between the two loses it.
const amqp = require("amqplib");
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

let stopping = false;

async function main() {
  // Closing a channel rejects the replies it still awaited (amqplib's
  // "Channel ended, no reply will be forthcoming"): expected once
  // stopping, fatal before.
  process.on("unhandledRejection", (err) => {
    if (stopping) return;
    console.error(err);
    process.exit(1);
  });
  await db.connect();
  const conn = await amqp.connect(env.IDEMCHECK_AMQP_URL);
  conn.on("close", () => {
    if (!stopping) {
      console.error("the connection to the server was lost");
      process.exit(1);
    }
  });
  const ch = await conn.createChannel();
  await ch.prefetch(1); // one message in hand: a stop finishes it
  let busy = Promise.resolve();
  process.on("SIGTERM", async () => {
    stopping = true;
    await busy; // the message in hand is finished
    await ch.close().catch(() => {});
    await conn.close().catch(() => {}); // what it still held is requeued
    await db.end();
    process.exit(0);
  });
  await ch.consume(env.IDEMCHECK_QUEUE, (m) => {
    busy = busy.then(async () => {
      const o = JSON.parse(m.content.toString());
      if (mode === "ack-first") ch.ack(m);
      await handle(o);
      if (mode === "exactly-once") ch.ack(m);
    }).catch((err) => {
      if (stopping) return; // the channel closed under it: requeued
      console.error(err);
      process.exit(1);
    });
  });
}

main().catch((err) => {
  if (stopping) process.exit(0); // stopped while starting: nothing in hand
  console.error(err);
  process.exit(1);
});
