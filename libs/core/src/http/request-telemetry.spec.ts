import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Metrics } from '../metrics/metrics.service';
import { RequestTelemetry, SLOW_REQUEST_MS } from './request-telemetry';

/** A request through the middleware; `finish` decides how its response ends. */
function through(
  telemetry: RequestTelemetry,
  opts: { headers?: Record<string, string>; status?: number; route?: string; aborted?: boolean; ms?: number } = {},
) {
  const req = Object.assign(new EventEmitter(), {
    method: 'GET',
    originalUrl: '/v1/batches/batch_abc?x=1',
    baseUrl: '',
    headers: { authorization: 'Bearer sk-secret-never-logged', ...opts.headers },
  }) as any;
  const headers: Record<string, unknown> = {};
  const res = Object.assign(new EventEmitter(), {
    statusCode: 200,
    writableFinished: false,
    setHeader: (name: string, value: unknown) => (headers[name] = value),
  }) as any;
  let nextCalls = 0;
  telemetry.middleware(req, res, () => (nextCalls += 1));
  if (opts.route) req.route = { path: opts.route };
  res.statusCode = opts.status ?? 200;
  res.writableFinished = !opts.aborted;
  const now = performance.now();
  if (opts.ms) jest.spyOn(performance, 'now').mockReturnValue(now + opts.ms);
  res.emit('close');
  jest.restoreAllMocks();
  return { req, headers, nextCalls };
}

function setup(level: string) {
  const lines: any[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const metrics = new Metrics();
  const telemetry = new RequestTelemetry(pino({ level }, sink), metrics);
  const count = async (labels: Record<string, string>) =>
    (await metrics.httpRequests.get()).values
      .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k as keyof typeof v.labels] === x))
      .reduce((s, v) => s + v.value, 0);
  return { telemetry, lines, count };
}

describe(RequestTelemetry.name, () => {
  it('gives every request an id: a well-formed incoming x-request-id is kept, anything else replaced by a UUID', () => {
    const { telemetry } = setup('info');
    const kept = through(telemetry, { headers: { 'x-request-id': 'client-1.retry_2' } });
    expect(kept.req.id).toBe('client-1.retry_2');
    expect(kept.headers['x-request-id']).toBe('client-1.retry_2');
    expect(kept.nextCalls).toBe(1);
    for (const bad of ['has space', 'x'.repeat(129), '']) {
      const replaced = through(telemetry, { headers: { 'x-request-id': bad } });
      expect(replaced.req.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(replaced.headers['x-request-id']).toBe(replaced.req.id);
    }
  });

  it('counts finished answers by route pattern and status (unknown routes as "unmatched"), not aborted ones', async () => {
    const { telemetry, count } = setup('info');
    through(telemetry, { route: '/v1/batches/:id' });
    through(telemetry, { route: '/v1/batches/:id', status: 404 });
    through(telemetry, { status: 404 });
    through(telemetry, { route: '/v1/batches/:id', aborted: true });
    expect(await count({ method: 'GET', route: '/v1/batches/:id', status: '200' })).toBe(1);
    expect(await count({ method: 'GET', route: '/v1/batches/:id', status: '404' })).toBe(1);
    expect(await count({ method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
    expect(await count({})).toBe(3);
  });

  it('logs nothing for a quick success at info; a slow answer at info, a 5xx at error, each naming the request but never its headers', () => {
    const { telemetry, lines } = setup('info');
    through(telemetry, { route: '/v1/batches/:id' });
    through(telemetry, { route: '/v1/batches/:id', status: 404 });
    expect(lines).toEqual([]);

    const slow = through(telemetry, { route: '/v1/batches/:id', ms: SLOW_REQUEST_MS + 5 });
    const failed = through(telemetry, { route: '/v1/batches/:id', status: 503 });
    expect(lines).toEqual([
      expect.objectContaining({
        level: 30,
        msg: 'request completed',
        req: { id: slow.req.id, method: 'GET', url: '/v1/batches/batch_abc?x=1' },
        res: { statusCode: 200 },
      }),
      expect.objectContaining({
        level: 50,
        msg: 'request failed',
        req: { id: failed.req.id, method: 'GET', url: '/v1/batches/batch_abc?x=1' },
        res: { statusCode: 503 },
      }),
    ]);
    expect(lines[0].responseTime).toBeGreaterThanOrEqual(SLOW_REQUEST_MS);
    expect(JSON.stringify(lines)).not.toContain('sk-secret');
  });

  it('logs every request at debug, an aborted one as such', () => {
    const { telemetry, lines } = setup('debug');
    through(telemetry, { route: '/v1/batches/:id' });
    through(telemetry, { route: '/v1/batches/:id', aborted: true });
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [20, 'request completed'],
      [20, 'request aborted'],
    ]);
  });
});
