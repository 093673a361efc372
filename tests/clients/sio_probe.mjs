// A thin harness around the official socket.io-client for the Rust tests.
// Usage: node sio_probe.mjs <url> <token|-> <websocket|polling>
// Prints one JSON line per happening: {"connected":id} | {"connect_error":msg} | {"event":name,"data":…}
// | {"ack":n,"data":…} | {"disconnect":reason}. Reads JSON lines on stdin: {"emit":name,"data":…,"ack":n}.
import { io } from "socket.io-client";
import readline from "node:readline";

const [url, token, transport] = process.argv.slice(2);
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const socket = io(url, {
  auth: token === "-" ? undefined : { token },
  transports: [transport],
  reconnection: false,
  timeout: 5000,
});
socket.on("connect", () => say({ connected: socket.id }));
socket.on("connect_error", (err) => say({ connect_error: err.message }));
socket.on("disconnect", (reason) => say({ disconnect: reason }));
socket.onAny((event, data) => say({ event, data }));
readline.createInterface({ input: process.stdin }).on("line", async (line) => {
  const cmd = JSON.parse(line);
  if (cmd.ack !== undefined) {
    const data = await socket.timeout(5000).emitWithAck(cmd.emit, cmd.data).catch((e) => ({ timeout: e.message }));
    say({ ack: cmd.ack, data });
  } else {
    socket.emit(cmd.emit, cmd.data);
  }
}).on("close", () => { socket.close(); process.exit(0); });
setTimeout(() => process.exit(0), 120_000).unref();
