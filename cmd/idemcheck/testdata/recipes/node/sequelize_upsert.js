// Correct: a version-guarded upsert of every record in one transaction,
// with Sequelize (node-postgres underneath). It finds the fault proxy
// through DATABASE_URL; the sandbox's search_path travels in the URL's
// options parameter, which node-postgres passes on.
const { Sequelize } = require("sequelize");
const { records } = require("./common");

async function main() {
  const rows = records(); // the version guard keeps the newest, in any order
  const db = new Sequelize(process.env.DATABASE_URL, { logging: false, pool: { min: 0, max: 1 } });
  try {
    await db.transaction(async (transaction) => {
      for (const r of rows) {
        // Sequelize's upsert has no WHERE on its ON CONFLICT DO UPDATE:
        // the version guard is plain SQL, through its query interface.
        await db.query(
          `INSERT INTO orders AS t (source, id, version, event_date, customer, amount)
           VALUES (:source, :id, :version, :event_date, :customer, :amount)
           ON CONFLICT (id) DO UPDATE SET source = EXCLUDED.source, version = EXCLUDED.version,
             event_date = EXCLUDED.event_date, customer = EXCLUDED.customer, amount = EXCLUDED.amount
           WHERE t.version < EXCLUDED.version`,
          { replacements: r, transaction },
        );
      }
    });
  } finally {
    await db.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
