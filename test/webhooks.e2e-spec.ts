import { AccountsService } from '@app/accounts';
import { JobQueue, JOBS } from '@app/queue';
import { WebhooksService } from '@app/webhooks';
import { WebhookDelivery, WebhookDeliveryQueries } from '../libs/admin/src/webhook-deliveries.queries';
import { WebhookOutbox } from '../libs/webhooks/src/webhook-outbox';
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { adminClient } from './support/admin-client';
import { ChildGateway, freePort } from './support/child-gateway';
import { currentDriver } from './support/databases';
import { backdated } from './support/gateway-clock';
import { FakeUpstream, startFakeUpstream } from './support/fake-upstream';
import { startGateway, Tenant, testEnvironment, TestGateway, waitFor } from './support/gateway';
import { jsonl, requestFile, requestLine } from './support/jsonl';
import { BatchObject, rest, RestAnswer, restClient, TERMINAL } from './support/rest-client';
import { openaiProvider, RoutingFile, sku } from './support/routing';
import { ReceivedWebhook, startSilentListener, startWebhookReceiver, WebhookReceiver } from './support/webhook-receiver';

/**
 * Webhooks end to end: terminal batch events signed per Standard Webhooks and delivered to a real
 * receiver on 127.0.0.1 (the batch's callback_url, else the account's default URL), retried on failure
 * with the same webhook-id, given up after the configured retries, refused for private targets (at
 * create for literal addresses, at delivery for resolved names), and delivered after a crash that
 * happened while the first attempt was in flight.
 */

jest.setTimeout(120_000);

const SLOW_MODEL = 'slow-model';
const PREFIXES = ['/v1', '/api/v1'] as const;

interface WebhookEvent {
  id: string;
  object: string;
  type: string;
  created_at: number;
  data: any;
}

function ok(res: RestAnswer, what: string): any {
  if (res.status !== 200) throw new Error(`${what} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

function batchBody(inputFileId: string, callbackUrl?: string) {
  return { input_file_id: inputFileId, endpoint: '/v1/chat/completions', completion_window: '24h', ...(callbackUrl ? { callback_url: callbackUrl } : {}) };
}

/** A batch of `lines` requests to the instant mock model, optionally with a callback_url. */
async function mockBatch(baseUrl: string, key: string, callbackUrl?: string, lines = 3): Promise<BatchObject> {
  const api = restClient(baseUrl, key);
  return api.createBatch(await api.upload(requestFile(lines)), { callback_url: callbackUrl });
}

/** A batch to the slow fake upstream (2 s a line, 2 at a time): it stays in progress for about 20 s. */
async function slowBatch(gw: TestGateway, key: string, callbackUrl: string): Promise<BatchObject> {
  const lines = Array.from({ length: 20 }, (_, i) => requestLine(i, SLOW_MODEL, { messages: [{ role: 'user', content: `slow line ${i} #latency=2000` }] }));
  const api = restClient(gw, key);
  return api.createBatch(await api.upload(jsonl(lines)), { callback_url: callbackUrl });
}

async function getBatch(baseUrl: string, key: string, id: string): Promise<BatchObject> {
  return restClient(baseUrl, key).batch(id);
}

async function waitForStatus(baseUrl: string, key: string, id: string, done: (status: string) => boolean): Promise<BatchObject> {
  return waitFor(
    () => getBatch(baseUrl, key, id),
    (b) => done(b.status),
    30_000,
    50,
  );
}

/** Verifies a received request as a subscriber would: raw body plus the three Standard Webhooks headers. */
function verify(secret: string, req: ReceivedWebhook): WebhookEvent {
  return new Webhook(secret).verify(req.body, req.headers as Record<string, string>) as WebhookEvent;
}

function otherSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

async function deliveriesOf(gw: TestGateway, batchId: string): Promise<WebhookDelivery[]> {
  return gw.app.get(WebhookDeliveryQueries).forBatches([batchId]);
}

/** The batch's one event once its delivery has settled (delivered or given up). */
async function settledDelivery(gw: TestGateway, batchId: string, status: 'delivered' | 'failed'): Promise<WebhookDelivery> {
  const [delivery] = await waitFor(
    () => deliveriesOf(gw, batchId),
    (d) => d.length > 0 && d[0].status !== 'pending',
    30_000,
    25,
  );
  expect(delivery.status).toBe(status);
  return delivery;
}

/**
 * No delivery job is waiting, delayed or running. With every event of the batch settled, nothing can
 * contact a receiver any more: a job only posts for a pending event, and settled events are never re-queued.
 */
async function webhookQueueIdle(gw: TestGateway): Promise<void> {
  const queue = gw.app.get(JobQueue);
  await waitFor(
    async () => (await queue.depth())[JOBS.deliverWebhook] ?? { waiting: 0, active: 0 },
    (d) => d.waiting === 0 && d.active === 0,
    30_000,
    25,
  );
}

async function accountSecret(gw: TestGateway, tenant: Tenant): Promise<string> {
  return (await gw.app.get(AccountsService).getAccount(tenant.accountId)).webhookSecret;
}

/** Routing with the built-in mock (instant) and a fake upstream for the slow model (batches to cancel or expire). */
function routing(upstreamUrl: string): RoutingFile {
  return {
    providers: [
      { id: 'mock', kind: 'mock', max_concurrency: 64 },
      openaiProvider('fake', upstreamUrl, { api_key_env: 'UPSTREAM_FAKE_KEY', max_concurrency: 2 }),
    ],
    skus: [sku('batch-test-model', 'mock', 'mock-echo-1'), sku(SLOW_MODEL, 'fake', 'fake-upstream-model')],
  };
}

describe(WebhooksService.name, () => {
  describe('delivery', () => {
    let gw: TestGateway;
    let upstream: FakeUpstream;
    let tenant: Tenant;
    const receivers: WebhookReceiver[] = [];

    async function receiver(): Promise<WebhookReceiver> {
      const r = await startWebhookReceiver();
      receivers.push(r);
      return r;
    }

    beforeAll(async () => {
      upstream = await startFakeUpstream();
      gw = await startGateway({ UPSTREAM_FAKE_KEY: 'fake-key', WEBHOOK_RETRY_DELAYS_MS: '200,400', WEBHOOK_TIMEOUT_MS: '1000' }, routing(upstream.url));
    });

    afterAll(async () => {
      await gw?.close();
      await upstream?.close();
    });

    beforeEach(async () => {
      tenant = await gw.newTenant('webhooks');
    });

    afterEach(async () => {
      await Promise.all(receivers.splice(0).map((r) => r.close()));
    });

    it('delivers batch.completed to the callback_url, signed with the account secret, with the completed batch as data', async () => {
      const hook = await receiver();
      const created = await mockBatch(gw.url, tenant.apiKey, `${hook.url}/hook`);
      expect(created.callback_url).toBe(`${hook.url}/hook`);

      const [req] = await hook.waitForRequests(1);
      const batch = await getBatch(gw.url, tenant.apiKey, created.id);
      expect(batch.status).toBe('completed');
      expect(batch.output_file_id).toMatch(/^file-/);

      expect(req.method).toBe('POST');
      expect(req.path).toBe('/hook');
      expect(req.headers['content-type']).toMatch(/^application\/json/);
      expect(req.headers['webhook-id']).toMatch(/^evt_/);
      expect(req.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
      expect(Math.abs(Number(req.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);

      const secret = await accountSecret(gw, tenant);
      expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
      const event = verify(secret, req);
      expect(event).toEqual({
        id: req.headers['webhook-id'],
        object: 'event',
        type: 'batch.completed',
        created_at: expect.any(Number),
        data: batch,
      });
      expect(event.data).toMatchObject({ id: created.id, object: 'batch', status: 'completed', request_counts: { total: 3, completed: 3, failed: 0 } });
      expect(event.created_at).toBeGreaterThanOrEqual(created.created_at);

      // A subscriber holding another secret (a random one, or another account's) rejects it, as it does a changed body.
      expect(() => verify(otherSecret(), req)).toThrow(WebhookVerificationError);
      expect(() => new Webhook(secret).verify(req.body.replace('"completed"', '"failed"'), req.headers as Record<string, string>)).toThrow(
        WebhookVerificationError,
      );
      const neighbourSecret = await accountSecret(gw, await gw.newTenant('neighbour'));
      expect(neighbourSecret).not.toBe(secret);
      expect(() => verify(neighbourSecret, req)).toThrow(WebhookVerificationError);

      const delivery = await settledDelivery(gw, created.id, 'delivered');
      expect(delivery).toMatchObject({ eventId: event.id, type: 'batch.completed', targetUrl: `${hook.url}/hook`, attempts: 1, lastError: null });
      expect(delivery.history).toEqual([expect.objectContaining({ attempt: 1, statusCode: 200, error: null })]);
    });

    it('retries a failed delivery with the same webhook-id and a fresh valid signature, then stops', async () => {
      const hook = await receiver();
      hook.answerNext(500, 1);
      const created = await mockBatch(gw.url, tenant.apiKey, `${hook.url}/hook`);

      const [first, second] = await hook.waitForRequests(2);
      expect(first.status).toBe(500);
      expect(second.status).toBe(200);
      expect(second.headers['webhook-id']).toBe(first.headers['webhook-id']);
      expect(second.body).toBe(first.body);
      const secret = await accountSecret(gw, tenant);
      expect(verify(secret, first).type).toBe('batch.completed');
      expect(verify(secret, second).id).toBe(first.headers['webhook-id']);
      expect(Number(second.headers['webhook-timestamp'])).toBeGreaterThanOrEqual(Number(first.headers['webhook-timestamp']));

      const delivery = await settledDelivery(gw, created.id, 'delivered');
      expect(delivery.eventId).toBe(first.headers['webhook-id']);
      expect(delivery.attempts).toBe(2);
      expect(delivery.history).toEqual([
        expect.objectContaining({ attempt: 1, statusCode: 500, error: 'HTTP 500' }),
        expect.objectContaining({ attempt: 2, statusCode: 200, error: null }),
      ]);
      expect(delivery.history[1].attemptedAt).toBeGreaterThanOrEqual(delivery.history[0].attemptedAt + 150);

      await webhookQueueIdle(gw);
      expect(hook.requests).toHaveLength(2);
      expect(await deliveriesOf(gw, created.id)).toHaveLength(1);
    });

    it('counts an attempt that outlives WEBHOOK_TIMEOUT_MS as failed and retries it', async () => {
      const hook = await receiver();
      hook.hangNext(1);
      const created = await mockBatch(gw.url, tenant.apiKey, `${hook.url}/hook`);

      const delivery = await settledDelivery(gw, created.id, 'delivered');
      expect(delivery.attempts).toBe(2);
      expect(delivery.history[0]).toMatchObject({ attempt: 1, statusCode: null, error: expect.stringMatching(/timeout|aborted/i) });
      expect(delivery.history[0].latencyMs).toBeGreaterThanOrEqual(900);
      expect(delivery.history[1]).toMatchObject({ attempt: 2, statusCode: 200, error: null });
      expect(hook.requests.map((r) => r.headers['webhook-id'])).toEqual([delivery.eventId, delivery.eventId]);
    });

    it("uses the account's default webhook when the batch has no callback_url, and only the callback_url when it has one", async () => {
      const accountHook = await receiver();
      const callbackHook = await receiver();
      await gw.app.get(AccountsService).setWebhookUrl(tenant.accountId, `${accountHook.url}/account`);

      const plain = await mockBatch(gw.url, tenant.apiKey);
      const withCallback = await mockBatch(gw.url, tenant.apiKey, `${callbackHook.url}/callback`);

      const toAccount = await settledDelivery(gw, plain.id, 'delivered');
      const toCallback = await settledDelivery(gw, withCallback.id, 'delivered');
      expect(toAccount.targetUrl).toBe(`${accountHook.url}/account`);
      expect(toCallback.targetUrl).toBe(`${callbackHook.url}/callback`);
      await webhookQueueIdle(gw);

      const secret = await accountSecret(gw, tenant);
      expect(accountHook.requests.map((r) => [r.path, verify(secret, r).data.id])).toEqual([['/account', plain.id]]);
      expect(callbackHook.requests.map((r) => [r.path, verify(secret, r).data.id])).toEqual([['/callback', withCallback.id]]);
    });

    it('records and delivers nothing when neither the batch nor the account has a webhook URL', async () => {
      const hook = await receiver();
      expect((await gw.app.get(AccountsService).getAccount(tenant.accountId)).webhookUrl).toBeNull();
      const created = await mockBatch(gw.url, tenant.apiKey);
      expect(created.callback_url).toBeNull();

      // The event row would be written in the same transaction as the completion: once completed, its absence is final.
      await waitForStatus(gw.url, tenant.apiKey, created.id, (s) => TERMINAL.includes(s));
      expect((await getBatch(gw.url, tenant.apiKey, created.id)).status).toBe('completed');
      expect(await deliveriesOf(gw, created.id)).toEqual([]);
      await webhookQueueIdle(gw);
      expect(hook.requests).toHaveLength(0);
    });

    it('delivers batch.cancelled for a batch cancelled mid-run', async () => {
      const hook = await receiver();
      const created = await slowBatch(gw, tenant.apiKey, `${hook.url}/hook`);
      await waitForStatus(gw.url, tenant.apiKey, created.id, (s) => s !== 'validating');

      const cancelling = ok(await rest(gw.url, tenant.apiKey, 'POST', `/v1/batches/${created.id}/cancel`), 'cancel');
      expect(cancelling.status).toBe('cancelling');

      const [req] = await hook.waitForRequests(1);
      const batch = await getBatch(gw.url, tenant.apiKey, created.id);
      expect(batch.status).toBe('cancelled');
      const event = verify(await accountSecret(gw, tenant), req);
      expect(event.type).toBe('batch.cancelled');
      expect(event.data).toEqual(batch);
      expect(event.data.cancelled_at).toEqual(expect.any(Number));
      expect(event.data.request_counts.completed).toBeLessThan(20);
      expect(event.data.error_file_id).toMatch(/^file-/);
      await settledDelivery(gw, created.id, 'delivered');
    });

    it('delivers batch.expired for a batch whose completion window passed', async () => {
      const hook = await receiver();
      // Created a day and a minute ago by the gateway's clock: once the clock catches up, its window has passed.
      // It ends on real time, so the receiver checks the signature's timestamp against the time it was signed.
      const created = await backdated(gw.app, (86_400 + 60) * 1000, async () => {
        const batch = await slowBatch(gw, tenant.apiKey, `${hook.url}/hook`);
        await waitForStatus(gw.url, tenant.apiKey, batch.id, (s) => s !== 'validating');
        return batch;
      });
      expect(created.expires_at).toBeLessThan(Date.now() / 1000);

      const [req] = await hook.waitForRequests(1);
      const batch = await getBatch(gw.url, tenant.apiKey, created.id);
      expect(batch.status).toBe('expired');
      const event = verify(await accountSecret(gw, tenant), req);
      expect(event.type).toBe('batch.expired');
      expect(event.data).toEqual(batch);
      expect(event.data.expired_at).toEqual(expect.any(Number));
      expect(event.data.error_file_id).toMatch(/^file-/);
      await settledDelivery(gw, created.id, 'delivered');
    });

    it('delivers batch.failed for a batch whose input cannot be read back', async () => {
      const hook = await receiver();
      const fileId = await restClient(gw, tenant.apiKey).upload(requestFile(2));
      // The upload succeeded; losing its stored line index before the prepare step makes the batch fail.
      unlinkSync(join(gw.config.dataDir, 'files', `${fileId}.index`));
      const created = ok(await rest(gw.url, tenant.apiKey, 'POST', '/v1/batches', batchBody(fileId, `${hook.url}/hook`)), 'create batch');

      const [req] = await hook.waitForRequests(1);
      const batch = await getBatch(gw.url, tenant.apiKey, created.id);
      expect(batch).toMatchObject({ status: 'failed', failed_at: expect.any(Number), output_file_id: null });
      const event = verify(await accountSecret(gw, tenant), req);
      expect(event.type).toBe('batch.failed');
      expect(event.data).toEqual(batch);
      expect(event.data.errors.data).toEqual([expect.objectContaining({ param: 'input_file_id' })]);
      await settledDelivery(gw, created.id, 'delivered');
    });

    it('gives up on an endpoint that keeps failing after the configured retries', async () => {
      const hook = await receiver();
      hook.answerAlways(503);
      const created = await mockBatch(gw.url, tenant.apiKey, `${hook.url}/hook`);

      const delivery = await settledDelivery(gw, created.id, 'failed');
      expect(delivery.attempts).toBe(3); // WEBHOOK_RETRY_DELAYS_MS=200,400: the first attempt and two retries
      expect(delivery.history.map((h) => [h.attempt, h.statusCode, h.error])).toEqual([
        [1, 503, 'HTTP 503'],
        [2, 503, 'HTTP 503'],
        [3, 503, 'HTTP 503'],
      ]);
      expect(delivery).toMatchObject({ lastError: 'HTTP 503', nextAttemptAt: null, deliveredAt: null });

      await webhookQueueIdle(gw);
      expect(hook.requests).toHaveLength(3);
      expect(new Set(hook.requests.map((r) => r.headers['webhook-id']))).toEqual(new Set([delivery.eventId]));
      // The periodic relay and a restart's resume pick up pending events only: this one stays given up.
      const outbox = gw.app.get(WebhookOutbox);
      await outbox.relay();
      await outbox.resumePending();
      await webhookQueueIdle(gw);
      expect(hook.requests).toHaveLength(3);
      expect((await deliveriesOf(gw, created.id))[0]).toMatchObject({ status: 'failed', attempts: 3 });
    });

    it('does not follow redirects: a 307 is a failed attempt and the Location is never contacted', async () => {
      const hook = await receiver();
      const elsewhere = await receiver();
      hook.answerAlways(307, { location: `${elsewhere.url}/elsewhere` });
      const created = await mockBatch(gw.url, tenant.apiKey, `${hook.url}/hook`);

      const delivery = await settledDelivery(gw, created.id, 'failed');
      expect(delivery.history.map((h) => h.statusCode)).toEqual([307, 307, 307]);
      await webhookQueueIdle(gw);
      expect(hook.requests).toHaveLength(3);
      expect(elsewhere.requests).toHaveLength(0);
    });
  });

  describe('SSRF guard at create (WEBHOOK_ALLOW_HTTP=false, WEBHOOK_ALLOW_PRIVATE=false)', () => {
    let gw: TestGateway;
    let tenant: Tenant;
    let fileId: string;

    beforeAll(async () => {
      gw = await startGateway({
        WEBHOOK_ALLOW_HTTP: 'false',
        WEBHOOK_ALLOW_PRIVATE: 'false',
        // The accepted control below targets a name that never resolves: one quick failed attempt, no retry in the test's time.
        WEBHOOK_TIMEOUT_MS: '500',
        WEBHOOK_RETRY_DELAYS_MS: '600000',
      });
      tenant = await gw.newTenant('ssrf');
      fileId = await restClient(gw, tenant.apiKey).upload(requestFile(1));
    });

    afterAll(async () => {
      await gw?.close();
    });

    const refused = [
      'http://example.com/x',
      'https://127.0.0.1/x',
      'https://10.1.2.3/x',
      'https://169.254.169.254/latest',
      'https://[::1]/x',
      'https://[::ffff:127.0.0.1]/x',
      'https://100.64.0.1/x',
      'https://localhost/x',
    ];

    for (const prefix of PREFIXES) {
      it.each(refused)(`refuses callback_url %s under ${prefix} with 400 invalid_request_error`, async (url) => {
        const res = await rest(gw.url, tenant.apiKey, 'POST', `${prefix}/batches`, batchBody(fileId, url));
        expect(res.status).toBe(400);
        if (prefix === '/v1') {
          expect(res.body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_request_error', param: 'callback_url' });
        } else {
          expect(res.body).toMatchObject({ success: false, code: 'invalid_request_error', data: null });
        }
        expect(prefix === '/v1' ? res.body.error.message : res.body.message).toMatch(/callback_url/);
      });
    }

    it('accepts an https callback_url whose host is a name (addresses are checked when delivering)', async () => {
      const res = await rest(gw.url, tenant.apiKey, 'POST', '/v1/batches', batchBody(fileId, 'https://hooks.example.invalid/batch'));
      expect(res.status).toBe(200);
      expect(res.body.callback_url).toBe('https://hooks.example.invalid/batch');
    });
  });

  describe('SSRF guard at delivery (WEBHOOK_ALLOW_HTTP=true, WEBHOOK_ALLOW_PRIVATE=false)', () => {
    let gw: TestGateway;
    let tenant: Tenant;
    let hook: WebhookReceiver;

    beforeAll(async () => {
      gw = await startGateway({ WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOW_PRIVATE: 'false', WEBHOOK_RETRY_DELAYS_MS: '200,400' });
    });

    afterAll(async () => {
      await gw?.close();
    });

    beforeEach(async () => {
      tenant = await gw.newTenant('ssrf-delivery');
      hook = await startWebhookReceiver();
    });

    afterEach(async () => {
      await hook.close();
    });

    /** A host name (not a literal address, not `localhost`) that resolves here to 127.0.0.1 only, if there is one. */
    async function loopbackName(): Promise<string | null> {
      for (const name of ['localhost.localdomain', hostname(), 'ip6-localhost', 'localhost6']) {
        if (name === 'localhost' || name.endsWith('.localhost')) continue;
        const addresses = await lookup(name, { all: true }).catch(() => []);
        if (addresses.length > 0 && addresses.every((a) => a.address === '127.0.0.1')) return name;
      }
      return null;
    }

    it('never contacts a callback_url whose name resolves to a loopback address, and records the refusal', async () => {
      const name = await loopbackName();
      let created: any;
      if (name) {
        created = await mockBatch(gw.url, tenant.apiKey, `http://${name}:${hook.port}/hook`);
      } else {
        // No such name on this machine: the account default, set without the create-time check, stands in for it.
        await gw.app.get(AccountsService).setWebhookUrl(tenant.accountId, `http://localhost:${hook.port}/hook`);
        created = await mockBatch(gw.url, tenant.apiKey);
      }

      const delivery = await settledDelivery(gw, created.id, 'failed');
      expect(delivery.attempts).toBe(1); // a refusal is permanent: no retries
      expect(delivery.lastError).toMatch(/^refused: /);
      if (name) expect(delivery.lastError).toContain('resolves to 127.0.0.1');
      expect(delivery.history).toEqual([expect.objectContaining({ attempt: 1, statusCode: null, error: delivery.lastError })]);
      await webhookQueueIdle(gw);
      expect(hook.requests).toHaveLength(0);
    });

    it('never contacts an account default webhook set to a literal private address without the create-time check', async () => {
      await gw.app.get(AccountsService).setWebhookUrl(tenant.accountId, `http://127.0.0.1:${hook.port}/hook`);
      const created = await mockBatch(gw.url, tenant.apiKey);

      const delivery = await settledDelivery(gw, created.id, 'failed');
      expect(delivery).toMatchObject({ attempts: 1, lastError: 'refused: the address 127.0.0.1 is not public' });
      await webhookQueueIdle(gw);
      expect(hook.requests).toHaveLength(0);
    });
  });

  describe('a crash while the first attempt is in flight', () => {
    const API_KEY = `sk-webhooks${randomBytes(12).toString('hex')}`;
    let env: Record<string, string>;
    let cleanup: (() => Promise<void>) | null = null;
    let child: ChildGateway | null = null;
    const closers: (() => Promise<void>)[] = [];

    beforeEach(async () => {
      const environment = await testEnvironment({
        BOOTSTRAP_API_KEY: API_KEY,
        LOG_LEVEL: 'warn',
        // Long enough that only the restart (not a retry timer) can explain a delivery within the test.
        WEBHOOK_RETRY_DELAYS_MS: '600000',
        WEBHOOK_TIMEOUT_MS: '600000',
      });
      env = environment.env;
      cleanup = environment.cleanup;
    });

    afterEach(async () => {
      await child?.stop('SIGKILL');
      child = null;
      for (const close of closers.splice(0)) await close();
      await cleanup?.();
      cleanup = null;
    });

    it('delivers the event exactly once after a restart', async () => {
      const port = await freePort();
      const silent = await startSilentListener(port);
      closers.push(() => silent.close().catch(() => undefined));

      child = new ChildGateway(env);
      await child.start(API_KEY);
      const created = await mockBatch(child.url, API_KEY, `http://127.0.0.1:${port}/hook`);
      const completed = await waitForStatus(child.url, API_KEY, created.id, (s) => TERMINAL.includes(s));
      expect(completed.status).toBe('completed');

      // The first attempt reaches the subscriber, which has not answered when the gateway dies.
      const inFlight = await waitFor(
        async () => silent.received(),
        (raw) => /\r\n\r\n[\s\S]*"object":"event"/.test(raw),
        30_000,
        20,
      );
      const eventId = /^webhook-id: (\S+)\r$/im.exec(inFlight)?.[1];
      expect(eventId).toMatch(/^evt_/);
      await child.stop('SIGKILL');
      await silent.close();

      const hook = await startWebhookReceiver({ port });
      closers.push(() => hook.close());
      await child.start(API_KEY);

      // Embedded: the boot re-queues pending events at once (the periodic relay alone would take 30 s or
      // more, so the bound tells the two apart). Postgres: the in-flight Bull job survives in Redis and comes
      // back through the stalled-job check once the dead worker's 15 s lock expires.
      const [req] = await hook.waitForRequests(1, currentDriver() === 'sqlite' ? 10_000 : 60_000);
      const admin = adminClient(child.url, env.ADMIN_TOKEN);
      const { accounts } = await admin.query<{ accounts: { webhookSecret: string }[] }>('{ accounts { webhookSecret } }');
      expect(accounts).toHaveLength(1);
      const event = verify(accounts[0].webhookSecret, req);
      expect(req.headers['webhook-id']).toBe(eventId);
      expect(event).toMatchObject({ id: eventId, type: 'batch.completed', data: { id: created.id, status: 'completed' } });

      const query = 'query($id: ID!) { batch(id: $id) { deliveries { eventId status attempts history { attempt statusCode } } } }';
      const settled = await waitFor(
        () => admin.query<{ batch: { deliveries: any[] } }>(query, { id: created.id }),
        (r) => r.batch.deliveries.length > 0 && r.batch.deliveries[0].status !== 'pending',
        30_000,
        100,
      );
      expect(settled.batch.deliveries).toEqual([{ eventId, status: 'delivered', attempts: 1, history: [{ attempt: 1, statusCode: 200 }] }]);
      expect(hook.requests).toHaveLength(1);
    });
  });
});
