// A Node `ws` peer for the interop tests.
//   node ws_peer.js server [deflate]      echo server; prints "PORT n"
//   node ws_peer.js client URL [deflate]  scripted client; prints "OK" when
//                                         every echo matched, then "CLOSED code reason"
// Echo protocol (same as the other peers): every message comes back with
// its type; the text "close:CODE:REASON" makes the peer close with CODE.
const WebSocket = require('ws');

const [mode, arg1, arg2] = process.argv.slice(2);
const fail = (msg) => { console.log('FAIL ' + msg); process.exit(1); };

function echo(ws) {
  ws.on('message', (data, isBinary) => {
    if (!isBinary) {
      const s = data.toString();
      if (s.startsWith('close:')) {
        const [, code, reason] = s.split(':');
        ws.close(Number(code), reason);
        return;
      }
    }
    ws.send(data, { binary: isBinary });
  });
  ws.on('close', (code, reason) => console.log('CLOSED ' + code + ' ' + reason));
}

if (mode === 'server') {
  const wss = new WebSocket.Server({
    host: '127.0.0.1', port: 0, perMessageDeflate: arg1 === 'deflate',
    maxPayload: 64 << 20,
    handleProtocols: (protocols) => (protocols.has('chat') ? 'chat' : false),
  });
  wss.on('listening', () => console.log('PORT ' + wss.address().port));
  wss.on('connection', echo);
} else if (mode === 'client') {
  const ws = new WebSocket(arg1, ['chat'], { perMessageDeflate: arg2 === 'deflate', maxPayload: 64 << 20 });
  const big = 'x'.repeat((1 << 20) + 5);
  const steps = [
    [() => ws.send('hello'), (d, b) => !b && d.toString() === 'hello'],
    [() => ws.send(Buffer.from([1, 2, 3])), (d, b) => b && d.equals(Buffer.from([1, 2, 3]))],
    [() => ws.send(big), (d, b) => !b && d.toString() === big],
    [() => { ws.send('frag', { fin: false }); ws.send('ment', { fin: true }); },
     (d, b) => !b && d.toString() === 'fragment'],
  ];
  let i = 0;
  ws.on('open', () => {
    if (ws.protocol !== 'chat') fail('subprotocol ' + ws.protocol);
    steps[0][0]();
  });
  ws.on('message', (data, isBinary) => {
    if (!steps[i][1](data, isBinary)) fail('step ' + i);
    i += 1;
    if (i < steps.length) steps[i][0]();
    else { console.log('OK'); ws.close(4000, 'bye'); }
  });
  ws.on('close', (code, reason) => { console.log('CLOSED ' + code + ' ' + reason); process.exit(0); });
  ws.on('error', (e) => fail(String(e)));
} else {
  fail('usage');
}
