// Correct: a version-guarded upsert of every record in one transaction,
// with knex (node-postgres underneath). It finds the fault proxy through
// DATABASE_URL; the sandbox's search_path travels in the URL's options
// parameter, which node-postgres passes on.
const knex = require("knex");
const { records } = require("./common");

async function main() {
  const rows = records(); // the version guard keeps the newest, in any order
  const db = knex({ client: "pg", connection: process.env.DATABASE_URL, pool: { min: 0, max: 1 } });
  try {
    await db.transaction(async (tx) => {
      for (const r of rows) {
        await tx("orders")
          .insert(r)
          .onConflict("id")
          .merge(["source", "version", "event_date", "customer", "amount"])
          .where("orders.version", "<", tx.raw("EXCLUDED.version"));
      }
    });
  } finally {
    await db.destroy();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
