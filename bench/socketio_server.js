// Socket.IO v4 server for bench/fanout_bench.py: the reference for channel
// fan-out (rooms) in one process and across instances through Redis with
// @socket.io/redis-adapter. Events: "subscribe"(room, ack) joins a room,
// "publish"(room, data, ack) emits "message"(room, data) to the room on
// every instance. Usage: node socketio_server.js PORT [REDIS_URL]
const { Server } = require("socket.io");

async function main() {
  const port = Number(process.argv[2]);
  const redisUrl = process.argv[3];
  const io = new Server({ transports: ["websocket"], serveClient: false });
  if (redisUrl) {
    const { createClient } = require("redis");
    const { createAdapter } = require("@socket.io/redis-adapter");
    const pub = createClient({ url: redisUrl });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub));
  }
  io.on("connection", (socket) => {
    socket.on("subscribe", (room, ack) => { socket.join(room); if (ack) ack(); });
    socket.on("publish", (room, data, ack) => {
      io.to(room).emit("message", room, data);
      if (ack) ack();
    });
  });
  io.listen(port);
}
main();
