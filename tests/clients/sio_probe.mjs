// A thin harness around the official socket.io-client for the Rust tests.
// Usage: node sio_probe.mjs <url> <token|-> <websocket|polling> [recover]
// Prints one JSON line per happening: {"connected":id} | {"connect_error":msg} | {"event":name,"data":…}
// | {"ack":n,"data":…} | {"disconnect":reason}. Reads JSON lines on stdin: {"emit":name,"data":…,"ack":n}.
// `recover`: reconnect by itself, as a dashboard would, with the last {offset, epoch} it received in `auth`.
import { io } from "socket.io-client";
import readline from "node:readline";

const [url, token, transport, mode] = process.argv.slice(2);
const recover = mode === "recover";
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
let position = {};
const socket = io(url, {
  // A function: the client calls it on every (re)connection, so it sends the latest position.
  auth: token === "-" ? undefined : (cb) => cb({ token, ...position }),
  transports: [transport],
  reconnection: recover,
  reconnectionDelay: 100,
  reconnectionDelayMax: 500,
  timeout: 5000,
});
socket.on("connect", () => say({ connected: socket.id }));
socket.on("connect_error", (err) => say({ connect_error: err.message }));
socket.on("disconnect", (reason) => say({ disconnect: reason }));
socket.onAny((event, data) => {
  if (event === "recovery:ready" || event === "recovery:reset") {
    position = { offset: data.offset, epoch: data.epoch };
  } else if (data && data._offset !== undefined) {
    position = { offset: data._offset, epoch: data._epoch };
  }
  say({ event, data });
});
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
