// The HTTP ceiling of the serving benchmark: a bare node:http server that does the least an OIP
// v2 JSON server must do per request (read the body, JSON.parse it, find the input's data,
// JSON.stringify an answer) and no inference: it answers the fixture's expected outputs for the
// row it recognises. Driven by the same load generator as the real servers, it shows what HTTP
// and JSON alone cost on this machine, i.e. the most any Node server could reach here.
//   node bench/serving/http-ceiling.mjs <port> <fixture dir>
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Starts the ceiling server for a fixture.
 * @param {number} port
 * @param {string} fixtureDir  a directory holding `expected.json`
 * @returns {http.Server}
 */
export function startCeiling(port, fixtureDir) {
  const expected = JSON.parse(readFileSync(path.join(fixtureDir, 'expected.json'), 'utf8'));
  /** @type {number[][]} */
  const rows = expected.input.rows;
  /** @type {number[]} */
  const labels = expected.label;
  /** @type {number[][]} */
  const probabilities = expected.probabilities ?? [];
  // A row is recognised by its first values (the fixtures' rows differ there).
  const keys = rows.map((row) => row.slice(0, 4).join(','));
  const server = http.createServer((req, res) => {
    if (req.method !== 'POST') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ready":true}');
      return;
    }
    /** @type {Buffer[]} */
    const chunks = [];
    req.on('data', (c) => chunks.push(/** @type {Buffer} */ (c)));
    req.on('end', () => {
      let i = -1;
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        /** @type {number[]} */
        const data = body.inputs[0].data;
        i = keys.indexOf(data.slice(0, 4).join(','));
      } catch {
        // answered 400 below
      }
      if (i < 0) {
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"unknown row"}');
        return;
      }
      const p = probabilities[i] ?? [];
      const answer = JSON.stringify({
        model_name: 'ceiling',
        model_version: '1',
        outputs: [
          { name: 'label', datatype: 'INT64', shape: [1], data: [labels[i]] },
          { name: 'probabilities', datatype: 'FP32', shape: [1, p.length], data: p },
        ],
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end(answer);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(port, '127.0.0.1');
  return server;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [port, dir] = process.argv.slice(2);
  if (!port || !dir) {
    process.stderr.write('usage: node bench/serving/http-ceiling.mjs <port> <fixture dir>\n');
    process.exit(2);
  }
  startCeiling(Number(port), dir);
}
