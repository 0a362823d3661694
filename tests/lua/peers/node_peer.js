// node ws peer for the Lua tests (loopback, bounded).
//   node_peer.js server             prints "PORT <n>", echoes until killed
//   node_peer.js client URL [count] [size]  echo round trips, prints OK/FAIL
const WebSocket = require('ws');
const [role, url, countArg, sizeArg] = process.argv.slice(2);

if (role === 'server') {
  const wss = new WebSocket.WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: true });
  wss.on('listening', () => console.log('PORT ' + wss.address().port));
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
} else {
  const count = parseInt(countArg || '3', 10);
  const size = parseInt(sizeArg || '0', 10);
  const ws = new WebSocket(url, { perMessageDeflate: true });
  let i = 0;
  const next = () => ws.send('message ' + i + ' ' + 'z'.repeat(size));
  ws.on('open', next);
  ws.on('message', (data) => {
    if (data.toString() !== 'message ' + i + ' ' + 'z'.repeat(size)) {
      console.log('FAIL mismatch at ' + i);
      process.exit(1);
    }
    if (++i === count) {
      console.log('OK count=' + count + ' extensions=' + ws.extensions);
      ws.close(1000);
    } else next();
  });
  ws.on('close', () => process.exit(0));
  ws.on('error', (e) => { console.log('FAIL ' + e.message); process.exit(1); });
}
