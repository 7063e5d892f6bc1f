// The batch as idemcheck gives it: JSON lines on stdin.
const fs = require("fs");

function records() {
  return fs.readFileSync(0, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

module.exports = { records };
