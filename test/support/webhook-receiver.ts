import { once } from 'node:events';
import { IncomingHttpHeaders } from 'node:http';
import { AddressInfo, createServer as createTcpServer, Server as TcpServer, Socket } from 'node:net';
import { waitFor } from './gateway';
import { listenLocal, readBody } from './local-server';

/** One request a receiver got, as it arrived: the raw body is what a subscriber verifies the signature on. */
export interface ReceivedWebhook {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** What the receiver answered. */
  status: number;
  receivedAt: number;
}

/**
 * A webhook subscriber on 127.0.0.1: it records every request with its headers and raw body, and
 * answers 200 unless told otherwise (a status for the next N requests, for every request, a redirect,
 * or no answer at all so that the sender's timeout fires).
 */
export interface WebhookReceiver {
  /** `http://127.0.0.1:<port>`; add a path such as `/hook`. */
  url: string;
  port: number;
  requests: ReceivedWebhook[];
  /** Answers `status` to the next `times` requests, then 200 again. */
  answerNext(status: number, times: number): void;
  /** Answers `status` to every request from now on. */
  answerAlways(status: number, headers?: Record<string, string>): void;
  /** Never answers the next `times` requests (the socket stays open until close()). */
  hangNext(times: number): void;
  /** The requests once at least `count` have arrived; fails after `timeoutMs` with what did arrive. */
  waitForRequests(count: number, timeoutMs?: number): Promise<ReceivedWebhook[]>;
  close(): Promise<void>;
}

interface Plan {
  status: number;
  headers: Record<string, string>;
  hang: boolean;
}

export async function startWebhookReceiver(opts: { port?: number } = {}): Promise<WebhookReceiver> {
  const requests: ReceivedWebhook[] = [];
  const script: Plan[] = [];
  let fallback: Plan = { status: 200, headers: {}, hang: false };

  const { port, close } = await listenLocal((req, res) => {
    const received = readBody(req).then((body) => {
      const plan = script.shift() ?? fallback;
      requests.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: body.toString('utf8'),
        status: plan.hang ? 0 : plan.status,
        receivedAt: Date.now(),
      });
      if (plan.hang) return;
      res.writeHead(plan.status, { 'content-type': 'text/plain', ...plan.headers }).end(`receiver says ${plan.status}`);
    });
    received.catch(() => undefined); // a sender that hung up before the end of its body sent no request
  }, opts.port);

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    answerNext(status, times) {
      for (let i = 0; i < times; i++) script.push({ status, headers: {}, hang: false });
    },
    answerAlways(status, headers = {}) {
      fallback = { status, headers, hang: false };
    },
    hangNext(times) {
      for (let i = 0; i < times; i++) script.push({ status: 0, headers: {}, hang: true });
    },
    async waitForRequests(count, timeoutMs = 20_000) {
      await waitFor(
        async () => requests.length,
        (n) => n >= count,
        timeoutMs,
        20,
      );
      return requests;
    },
    close,
  };
}

/**
 * A TCP listener that accepts connections and reads what is sent but never answers: a subscriber that
 * is slow to answer, so a delivery attempt is still in flight when the gateway is killed.
 */
export interface SilentListener {
  port: number;
  /** Everything received, all connections together. */
  received(): string;
  close(): Promise<void>;
}

export async function startSilentListener(port = 0): Promise<SilentListener> {
  let received = '';
  const sockets = new Set<Socket>();
  const server: TcpServer = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('data', (c: Buffer) => (received += c.toString('utf8')));
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    received: () => received,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
