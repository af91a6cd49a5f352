import { AddressInfo, connect, createServer, Server, Socket } from 'node:net';
import { createPostgresDatabase, TEST_REDIS_URL } from './support/databases';
import { startGateway, TestGateway, waitFor } from './support/gateway';

/**
 * Only the networked drivers (PostgreSQL, Redis) can become unreachable while the process runs, so this
 * suite runs in the postgres project only (*.pg-e2e-spec.ts). Probes must answer within a load
 * balancer's budget, whatever hangs behind them.
 */
jest.setTimeout(90_000);

/**
 * A TCP relay on 127.0.0.1 in front of a dependency (PostgreSQL, Redis): `cut()` drops every connection and
 * refuses new ones, as an outage would; `restore()` listens again on the same port.
 */
interface TcpRelay {
  port: number;
  cut(): Promise<void>;
  restore(): Promise<void>;
}

async function startTcpRelay(targetPort: number): Promise<TcpRelay> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const target = connect(targetPort, '127.0.0.1');
    for (const s of [client, target]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.on('close', () => target.destroy());
    target.on('close', () => client.destroy());
    client.pipe(target).pipe(client);
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(0);
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    async cut() {
      for (const s of sockets) s.destroy();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    async restore() {
      if (!server.listening) await listen(port);
    },
  };
}

/** GET `url`, failing (rather than waiting on) an answer that takes longer than a load balancer would. */
async function answerWithin(url: string, ms: number): Promise<{ status: number; body: string }> {
  const started = Date.now();
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(ms) });
    return { status: res.status, body: await res.text() };
  } catch (err) {
    throw new Error(`GET ${url} did not answer within ${ms} ms (aborted after ${Date.now() - started} ms): ${String(err)}`, { cause: err });
  }
}

describe('Readiness and metrics with PostgreSQL or Redis unreachable', () => {
  const PROBE_BUDGET_MS = 5_000;

  it('answers /readyz 503 naming the database, keeps /healthz and /metrics answering, and recovers', async () => {
    const relay = await startTcpRelay(5432);
    const db = await createPostgresDatabase();
    const viaRelay = new URL(db.url);
    viaRelay.port = String(relay.port);
    const outage = await startGateway({ DATABASE_URL: viaRelay.toString() });
    try {
      expect((await answerWithin(`${outage.url}/readyz`, PROBE_BUDGET_MS)).status).toBe(200);
      await relay.cut();
      const ready = await answerWithin(`${outage.url}/readyz`, PROBE_BUDGET_MS);
      expect(ready.status).toBe(503);
      expect(JSON.parse(ready.body)).toMatchObject({
        status: 'error',
        error: { database: { status: 'down' } },
        details: { database: { status: 'down' }, queue: { status: 'up' }, storage: { status: 'up' } },
      });
      expect(ready.body).not.toContain(viaRelay.toString());
      expect((await answerWithin(`${outage.url}/healthz`, PROBE_BUDGET_MS)).status).toBe(200);
      expect((await answerWithin(`${outage.url}/metrics`, PROBE_BUDGET_MS)).status).toBe(200);

      await relay.restore();
      await waitFor(
        () => answerWithin(`${outage.url}/readyz`, PROBE_BUDGET_MS),
        (r) => r.status === 200,
        30_000,
        100,
      );
    } finally {
      await relay.restore();
      await outage.close();
      await relay.cut();
      await db.drop();
    }
  });

  describe('Redis', () => {
    let relay: TcpRelay;
    let outage: TestGateway;

    beforeAll(async () => {
      relay = await startTcpRelay(Number(new URL(TEST_REDIS_URL).port || 6379));
      outage = await startGateway({ REDIS_URL: `redis://127.0.0.1:${relay.port}` });
    });

    afterAll(async () => {
      await outage?.close();
      await relay?.cut();
    });

    /** Cuts Redis for the duration of `during`, then waits until the gateway is ready again. */
    async function withRedisDown(during: () => Promise<void>): Promise<void> {
      expect((await answerWithin(`${outage.url}/readyz`, PROBE_BUDGET_MS)).status).toBe(200);
      await relay.cut();
      try {
        await during();
      } finally {
        await relay.restore();
        await waitFor(
          () => answerWithin(`${outage.url}/readyz`, 30_000),
          (r) => r.status === 200,
          30_000,
          100,
        );
      }
    }

    it('answers /readyz 503 naming the queue within a few seconds, and /healthz stays 200', async () => {
      await withRedisDown(async () => {
        expect((await answerWithin(`${outage.url}/healthz`, PROBE_BUDGET_MS)).status).toBe(200);
        const ready = await answerWithin(`${outage.url}/readyz`, PROBE_BUDGET_MS);
        expect(ready.status).toBe(503);
        expect(JSON.parse(ready.body)).toMatchObject({
          status: 'error',
          error: { queue: { status: 'down' } },
          details: { database: { status: 'up' }, queue: { status: 'down' }, storage: { status: 'up' } },
        });
      });
    });

    it('still answers a Prometheus scrape within a few seconds', async () => {
      await withRedisDown(async () => {
        const metrics = await answerWithin(`${outage.url}/metrics`, PROBE_BUDGET_MS);
        expect(metrics.status).toBe(200);
        expect(metrics.body).toMatch(/^batch_gateway_process_cpu_seconds_total \d/m);
      });
    });
  });
});
