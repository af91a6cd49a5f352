import { once } from 'node:events';
import { createServer, IncomingMessage, RequestListener, Server } from 'node:http';
import { AddressInfo, Socket } from 'node:net';

/** An HTTP server on 127.0.0.1, for the fakes and receivers the gateway talks to. */
export interface LocalServer {
  server: Server;
  port: number;
  /** Destroys every open connection (requests never answered included), then stops listening. */
  close: () => Promise<void>;
}

export async function listenLocal(handler: RequestListener, port = 0): Promise<LocalServer> {
  const server = createServer(handler);
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The whole body of a request. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
