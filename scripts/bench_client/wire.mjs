// Two ways for the bench client to hold a WebSocket, behind one small interface:
//
//   const conn = await open(url, "raw" | "ws");
//   conn.onmessage = (text) => ...;   // each text frame, as a string
//   conn.send(text); conn.close(); conn.terminate(); conn.closed -> Promise
//
// "ws" is the `ws` package. "raw" is a minimal RFC 6455 client on node:net, for load
// generation only: one fixed Sec-WebSocket-Key, an all-zero masking key (a legal key that
// makes masking a copy), text frames only, no fragmentation, no extensions. It costs a
// fraction of `ws` per handshake and per frame, so one Node process can keep thousands of
// sockets busy without becoming the bottleneck it would otherwise be.

import crypto from "node:crypto";
import net from "node:net";
import { WebSocket } from "ws";

const KEY = "Yml0bmV4dXMtYmVuY2gtMQ==";
const ACCEPT = crypto
  .createHash("sha1")
  .update(KEY + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
  .digest("base64");
const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;

export function open(url, kind) {
  return kind === "ws" ? openWs(url) : openRaw(url);
}

function openWs(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true });
    let closedResolve;
    const conn = {
      onmessage: null,
      closed: new Promise((r) => (closedResolve = r)),
      send: (text) => ws.send(text),
      close: () => ws.close(1000),
      terminate: () => ws.terminate(),
    };
    ws.on("message", (data) => conn.onmessage && conn.onmessage(data.toString()));
    ws.on("close", () => closedResolve());
    ws.on("error", reject);
    ws.once("open", () => resolve(conn));
  });
}

function frame(opcode, payload) {
  const body = typeof payload === "string" ? Buffer.from(payload) : payload;
  const n = body.length;
  const head = n < 126 ? 6 : n < 65536 ? 8 : 14;
  const out = Buffer.allocUnsafe(head + n);
  out[0] = 0x80 | opcode;
  if (n < 126) {
    out[1] = 0x80 | n;
  } else if (n < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeBigUInt64BE(BigInt(n), 2);
  }
  out.writeUInt32BE(0, head - 4); // the masking key: zero, so the payload goes as is
  body.copy(out, head);
  return out;
}

// One read buffer for every raw socket: `onread` hands each read to a callback that
// parses it at once (a partial frame is copied out), which skips the stream machinery.
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

function openRaw(url) {
  const { hostname, port, pathname, search } = new URL(url);
  const request =
    `GET ${pathname}${search} HTTP/1.1\r\nHost: ${hostname}:${port}\r\n` +
    `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\n` +
    `Sec-WebSocket-Version: 13\r\n\r\n`;
  return new Promise((resolve, reject) => {
    let rest = null; // bytes of an incomplete frame (or response head), copied
    let upgraded = false;
    let closedResolve;
    const onread = (nread, chunk) => {
      let buf = chunk.subarray(0, nread);
      if (rest !== null) buf = Buffer.concat([rest, buf]);
      if (!upgraded) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) {
          rest = Buffer.from(buf);
          return;
        }
        const head = buf.toString("latin1", 0, end);
        if (!head.startsWith("HTTP/1.1 101") || !head.includes(ACCEPT)) {
          sock.destroy();
          reject(new Error(`handshake refused: ${head.split("\r\n")[0]}`));
          return;
        }
        upgraded = true;
        buf = buf.subarray(end + 4);
        resolve(conn);
      }
      const at = parse(buf, conn, sock);
      rest = at === buf.length ? null : Buffer.from(buf.subarray(at));
    };
    const sock = net.connect({
      host: hostname,
      port: Number(port),
      noDelay: true,
      onread: { buffer: READ_BUFFER, callback: onread },
    });
    const conn = {
      onmessage: null,
      closed: new Promise((r) => (closedResolve = r)),
      send: (text) => sock.write(frame(OP_TEXT, text)),
      close: () => {
        if (!sock.destroyed) sock.end(frame(OP_CLOSE, Buffer.from([0x03, 0xe8])));
      },
      terminate: () => sock.destroy(),
    };
    sock.on("error", (err) => (upgraded ? sock.destroy() : reject(err)));
    sock.on("close", () => {
      if (!upgraded) reject(new Error("closed during the handshake"));
      closedResolve();
    });
    sock.once("connect", () => sock.write(request));
  });
}

// Server frames are never masked. Returns how many bytes of `buf` whole frames took.
function parse(buf, conn, sock) {
  let at = 0;
  while (buf.length - at >= 2) {
    const opcode = buf[at] & 0x0f;
    let n = buf[at + 1] & 0x7f;
    let head = 2;
    if (n === 126) {
      if (buf.length - at < 4) break;
      n = buf.readUInt16BE(at + 2);
      head = 4;
    } else if (n === 127) {
      if (buf.length - at < 10) break;
      n = Number(buf.readBigUInt64BE(at + 2));
      head = 10;
    }
    if (buf.length - at < head + n) break;
    const start = at + head;
    at = start + n;
    if (opcode === OP_TEXT) {
      if (conn.onmessage) conn.onmessage(buf.toString("utf8", start, at));
    } else if (opcode === OP_PING) {
      sock.write(frame(0xa, buf.subarray(start, at)));
    } else if (opcode === OP_CLOSE) {
      conn.close();
    }
  }
  return at;
}
