// Target N: a Node socket.io v4 relay speaking the same frames as target B.
//   node bench/node/relay.js PORT [REDIS_URL]
import http from "node:http";
import { Server } from "socket.io";

const port = Number(process.argv[2]);
const redisUrl = process.argv[3] || "";

const server = http.createServer((req, res) => {
  if (req.url === "/healthz") { res.end("ok"); return; }
  res.statusCode = 404; res.end();
});
const io = new Server(server, { cors: { origin: "*" }, maxHttpBufferSize: 1 << 20, serveClient: false });

if (redisUrl) {
  const { createClient } = await import("redis");
  const { createAdapter } = await import("@socket.io/redis-adapter");
  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub));
}

io.on("connection", (socket) => {
  socket.on("join", (data, cb) => { socket.join(String(data.room)); if (cb) cb({ ok: true }); });
  socket.on("send", (data, cb) => {
    socket.to(String(data.room)).emit("msg", data);
    if (cb) cb({ ok: true, seq: data.seq });
  });
  socket.on("ack", (data) => { socket.to(String(data.room)).emit("delivered", data); });
});

server.listen(port, "127.0.0.1");
