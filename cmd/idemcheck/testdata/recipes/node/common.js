// The batch as idemcheck gives it (JSON lines on stdin), each id's latest
// version (ties broken by a total order, never by arrival), by id.
const fs = require("fs");

function latestByID() {
  const rows = fs.readFileSync(0, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
  const key = (r) => [r.version, r.source, r.event_date, r.customer, r.amount];
  const after = (a, b) => {
    for (let i = 0; i < a.length; i++) {
      if (a[i] !== b[i]) return a[i] > b[i];
    }
    return false;
  };
  const latest = new Map();
  for (const r of rows) {
    const prev = latest.get(r.id);
    if (!prev || after(key(r), key(prev))) latest.set(r.id, r);
  }
  return [...latest.values()].sort((a, b) => a.id - b.id);
}

module.exports = { latestByID };
