// node ws echo server for the C benchmarks (bench/run_c_bench.py).
//   NODE_PATH=/usr/share/nodejs node bench/ws_echo_node.js PORT
// Listens on 127.0.0.1:PORT (0 picks one; prints "listening PORT"), echoes
// every message with its type, perMessageDeflate off. SIGTERM/SIGINT exit.
'use strict';
const { WebSocketServer } = require('ws');

const port = parseInt(process.argv[2] || '0', 10);
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false,
                                  maxPayload: 64 << 20, clientTracking: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
wss.on('listening', () => {
  process.stdout.write(`listening ${wss.address().port}\n`);
});
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => process.exit(0));
