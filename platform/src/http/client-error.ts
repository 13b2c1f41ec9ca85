import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { problemOf } from './problem';

/**
 * Node's HTTP parser refuses some requests before Express sees them (headers or URL over
 * the limit, a malformed request line) and answers with a bare status. Answer those with
 * the same problem+json every other error gets.
 */
export function problemOnClientError(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const problem = tooLarge
      ? problemOf('request-header-fields-too-large', 431, 'the request line or headers exceed the size limit')
      : problemOf('bad-request', 400, 'the request could not be parsed as HTTP');
    const body = JSON.stringify(problem);
    socket.end(
      `HTTP/1.1 ${problem.status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
        `Content-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
