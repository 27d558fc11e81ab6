// Not a *.test.mjs file: tests/js/test_drain.py runs it, stops the server with SIGTERM
// once this prints {"event":"joined"}, and reads the close event this prints then.
//   node drain_client.mjs ws://127.0.0.1:PORT/demo/socket
import { Socket } from "phoenix";
import WebSocket from "ws";

const socket = new Socket(process.argv[2], { transport: WebSocket, reconnectAfterMs: () => 60_000 });
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
socket.onClose((event) => {
  say({ event: "closed", code: event.code, wasClean: event.wasClean, reason: event.reason });
  process.exit(0);
});
socket.connect();
const channel = socket.channel("room:drain", {});
channel.join().receive("ok", () => say({ event: "joined" }));
setTimeout(() => { say({ event: "timeout" }); process.exit(2); }, 30_000);
