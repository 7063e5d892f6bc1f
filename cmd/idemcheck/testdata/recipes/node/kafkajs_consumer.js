// A Kafka consumer of order events with kafkajs and pg, in the shape
// idemcheck certifies (idemcheck certify --consumer).
//
// Mode "exactly-once" (correct): each batch's events are inserted in one
// transaction, skipping those already there (ON CONFLICT DO NOTHING on the
// event's key), and only then are its offsets committed.
//
// Mode "commit-first" (broken, franz-go#57 and IBM/sarama#1987): the
// offsets are committed as soon as the batch arrives, then the events are
// inserted (as idempotently); a kill between the two loses them.
const { Kafka, logLevel } = require("kafkajs");
const { Client } = require("pg");

const mode = process.argv[2] || "exactly-once";
if (mode !== "exactly-once" && mode !== "commit-first") {
  console.error(`unknown mode ${mode}: want exactly-once or commit-first`);
  process.exit(2);
}
const env = process.env;
const kafka = new Kafka({ brokers: env.IDEMCHECK_KAFKA_BROKERS.split(","), logLevel: logLevel.ERROR });
const consumer = kafka.consumer({
  groupId: env.IDEMCHECK_GROUP,
  sessionTimeout: Number(env.IDEMCHECK_SESSION_TIMEOUT_MS),
  heartbeatInterval: Number(env.IDEMCHECK_HEARTBEAT_INTERVAL_MS),
  maxWaitTimeInMs: 50,
});
const db = new Client({ connectionString: env.DATABASE_URL });

const insertSQL =
  "INSERT INTO order_events (source, id, version, event_date, customer, amount) " +
  "SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::date[], $5::text[], $6::numeric[]) " +
  "ON CONFLICT (source, id, version) DO NOTHING";

async function insert(events) {
  const cols = [[], [], [], [], [], []];
  for (const e of events) {
    [e.source, e.id, e.version, e.event_date, e.customer, e.amount].forEach((v, i) => cols[i].push(v));
  }
  await db.query("BEGIN");
  try {
    await db.query(insertSQL, cols);
    await db.query("COMMIT");
  } catch (err) {
    await db.query("ROLLBACK").catch(() => {});
    throw err;
  }
}

async function main() {
  await db.connect();
  await consumer.connect();
  await consumer.subscribe({ topic: env.IDEMCHECK_TOPIC, fromBeginning: true });
  // A consumer kafkajs gives up on (a commit refused mid-rebalance is
  // "non-retriable" to it) stops consuming and stays idle; exit, so that
  // the supervisor restarts it from the committed offsets. Without this,
  // idemcheck finds it never catches up.
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (!payload.restart) {
      console.error("consumer crashed:", payload.error);
      process.exit(1);
    }
  });
  let stopping = false;
  process.on("SIGTERM", async () => {
    if (stopping) return;
    stopping = true;
    await consumer.disconnect(); // waits for the batch in hand
    await db.end();
    process.exit(0);
  });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      if (batch.messages.length === 0) return;
      const events = batch.messages.map((m) => JSON.parse(m.value.toString()));
      const next = String(Number(batch.lastOffset()) + 1);
      const commit = () => consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }]);
      if (mode === "commit-first") {
        await commit();
        await insert(events);
      } else {
        await insert(events);
        await commit();
      }
    },
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
