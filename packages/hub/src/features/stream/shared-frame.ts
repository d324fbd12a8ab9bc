import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';

/** The largest payload a frame with a one-byte length holds (RFC 6455, 5.2). */
const SHORT_PAYLOAD_MAX = 125;

/**
 * A text message sent alike to many streams (a wave's `changed` notice), framed once: the
 * final, unmasked text frame a server sends (RFC 6455, 5.2), for payloads of up to 125 bytes.
 * `ws.send` frames each message anew and writes header and payload as two buffers (cork,
 * uncork); one buffer shared by every stream is one write each.
 */
export function sharedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  if (payload.length > SHORT_PAYLOAD_MAX)
    throw new TypeError(
      `sharedTextFrame: the payload must be at most ${SHORT_PAYLOAD_MAX} bytes, received ${payload.length}`,
    );
  return Buffer.concat([Buffer.from([0x81, payload.length]), payload]);
}

/**
 * Writes a frame from {@link sharedTextFrame} to an open stream, on the socket the hub handed
 * to `WebSocketServer.handleUpgrade`: ws has no call that sends a frame built beforehand.
 * Written beside ws's own frames, it keeps their order because ws holds nothing back from its
 * socket unless it compresses (the hub's server has `perMessageDeflate` off) or reads a Blob
 * (the hub sends none); `test/features/stream/shared-frame.test.ts` fails if that changes.
 * A stream that is closing or closed is sent nothing: false.
 */
export function writeSharedFrame(ws: WebSocket, socket: Duplex, frame: Buffer): boolean {
  if (ws.readyState !== WebSocket.OPEN || !socket.writable) return false;
  socket.write(frame);
  return true;
}
