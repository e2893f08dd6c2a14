// Relays what the official socket.io-client sees on a namespace (default /user) to stdout, one JSON object per line,
// and takes commands on stdin, one JSON object per line: {"emit": name, "data": ...} or
// {"close": true}. Used by tests/realtime/test_recovery.py, which drives connection drops.
//
//   node recover.mjs '{"url": "...", "token": "...", "namespace": "/vendor"}'
import readline from "node:readline";
import { io } from "socket.io-client";

const cfg = JSON.parse(process.argv[2]);
const out = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

const socket = io(`${cfg.url}${cfg.namespace ?? "/user"}`, {
  auth: { token: cfg.token },
  transports: ["websocket"],
  reconnectionDelay: 200,
  reconnectionDelayMax: 400,
  randomizationFactor: 0,
});
socket.on("connect", () => out({ event: "connect", id: socket.id, recovered: socket.recovered }));
socket.on("disconnect", (reason) => out({ event: "disconnect", reason }));
socket.on("connect_error", (err) => out({ event: "connect_error", message: err.message }));
socket.onAny((event, ...args) => out({ event, data: args[0], extra: args.length - 1 }));

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const command = JSON.parse(line);
  if (command.emit) socket.emit(command.emit, command.data);
  if (command.close) {
    socket.close();
    process.exit(0);
  }
});
