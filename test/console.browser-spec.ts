import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { BrowserSession, openBrowser } from './support/browser';
import { CONSOLE_DIR, ensureConsoleBuilt } from './support/console-build';
import { FakeUpstream, pricedRouting, startFakeUpstream } from './support/fake-upstream';
import { startGateway, Tenant, TestGateway, waitFor } from './support/gateway';
import { jsonl, requestFile, requestLine } from './support/jsonl';
import { rest, restClient } from './support/rest-client';
import { startWebhookReceiver, WebhookReceiver } from './support/webhook-receiver';

/**
 * The operator console in a real headless Chromium, against a real gateway in production mode (SQLite,
 * in-process queue) whose only provider is a fake upstream slow enough to watch a batch run: sign-in,
 * live progress, filters, a batch's request lines, cancel, a download, an account and its API key, a SKU
 * switched off, the overview's charts. Each step waits for what the page shows, never for a fixed time.
 * The screenshots in docs/console/ are taken here.
 */

jest.setTimeout(120_000);

// The guide's pictures (docs/console.md) are refreshed by `UPDATE_SCREENSHOTS=1 npm test -- --selectProjects browser`;
// other runs take the same screenshots into a scratch directory, so a test run leaves the tree clean.
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? resolve(__dirname, '../docs/console') : join(tmpdir(), 'batch-gateway-console-screenshots');
const MODEL = 'fake-model';
const SKU = `${MODEL}@fake`;
/** 600 lines, two at a time, 150 ms each: about 45 s, far longer than the steps that watch the batch run (then cancel it). */
const LONG_BATCH_LINES = 600;

describe('Operator console (headless Chromium)', () => {
  let gw: TestGateway;
  let upstream: FakeUpstream;
  let receiver: WebhookReceiver;
  let browser: BrowserSession;
  let page: Page;
  let tenant: Tenant;
  /** A small batch that ends at once, one line failing upstream; metadata team=blue. */
  let quickId: string;
  /** The long batch the steps watch, page through and cancel; metadata team=red. */
  let runningId: string;

  /** docs/console/<name>.png: the page at 1280 px wide, down to 1,600 px of it. */
  const shot = async (name: string) => {
    const height = Math.min(await page.evaluate(() => document.documentElement.scrollHeight), 1600);
    await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true, clip: { x: 0, y: 0, width: 1280, height } });
  };
  const nav = (label: string) => page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: label, exact: true }).click();
  /** Waits until the batches table lists exactly `ids`, in any order. */
  const untilRows = (ids: string[]) =>
    page.waitForFunction((expected) => {
      const shown = [...document.querySelectorAll('tr[data-batch-id]')].map((tr) => tr.getAttribute('data-batch-id')).sort();
      return JSON.stringify(shown) === JSON.stringify([...expected].sort());
    }, ids);

  beforeAll(async () => {
    ensureConsoleBuilt();
    mkdirSync(SCREENSHOTS, { recursive: true });
    upstream = await startFakeUpstream({ latencyMs: 150 });
    receiver = await startWebhookReceiver();
    // In production mode, as operators run it: introspection off, so the console relies on its build-time types.
    gw = await startGateway(
      {
        NODE_ENV: 'production',
        // Chosen, so that production mode does not print a generated one.
        BOOTSTRAP_API_KEY: `sk-${randomBytes(16).toString('hex')}`,
        UPSTREAM_FAKE_KEY: 'fake-key',
        CONSOLE_DIR,
        WEBHOOK_RETRY_DELAYS_MS: '300,600',
      },
      pricedRouting(upstream.url, { maxConcurrency: 2 }, { input_price_per_mtok: 2, output_price_per_mtok: 8 }),
    );
    tenant = await gw.newTenant('console');
    const client = restClient(gw, tenant.apiKey);

    const quickLines = [1, 2, 3, 4].map((i) => requestLine(i, MODEL));
    quickLines.push({ ...requestLine(5, MODEL), body: { model: MODEL, messages: [{ role: 'user', content: 'refused #status=400' }] } });
    quickId = (await client.createBatch(await client.upload(jsonl(quickLines)), { metadata: { team: 'blue' } })).id;
    await waitFor(
      () => client.batch(quickId),
      (b) => b.status === 'completed',
    );
    // The first delivery of its end event fails (500), the retry succeeds: the detail page shows both attempts.
    receiver.answerNext(500, 1);
    runningId = (
      await client.createBatch(await client.upload(requestFile(LONG_BATCH_LINES, MODEL)), {
        metadata: { team: 'red' },
        callback_url: `${receiver.url}/hooks/batches`,
      })
    ).id;

    browser = await openBrowser();
    page = browser.page;
  });

  afterAll(async () => {
    await browser?.close();
    await gw?.close();
    await upstream?.close();
    await receiver?.close();
  });

  it('signs in: a wrong admin token is refused in words, the right one opens the overview and is kept for the tab only', async () => {
    await page.goto(`${gw.url}/admin/`);
    await page.getByLabel('Admin token').fill('adm-not-the-right-token-at-all');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'did not accept this admin token' }).waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    // Chromium logs the refused request (HTTP 401) as a console error: the one expected problem.
    expect(browser.problems).toEqual([expect.stringContaining('status of 401')]);
    browser.problems.length = 0;

    await page.getByLabel('Admin token').fill(gw.adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    expect(await page.evaluate(() => Object.keys(sessionStorage))).toEqual(['batch-gateway.admin-token']);
    expect(await page.context().cookies()).toEqual([]);
  });

  it("shows a running batch's progress bar advancing, without reloading the page", async () => {
    await nav('Batches');
    const bar = `tr[data-batch-id="${runningId}"] progress`;
    await page.locator(bar).waitFor();
    await page.evaluate(() => ((window as any).sameDocument = true));
    const before: number = await page.locator(bar).evaluate((el: HTMLProgressElement) => el.value);
    await page.waitForFunction(
      ([selector, value]) => (document.querySelector(selector as string) as HTMLProgressElement).value > (value as number),
      [bar, before],
    );
    expect(await page.evaluate(() => (window as any).sameDocument)).toBe(true);
    expect(await page.locator(`tr[data-batch-id="${runningId}"]`).getByText('in progress', { exact: true }).count()).toBe(1);
    await shot('batches');
  });

  it('filters the batches by status and by metadata, in the URL', async () => {
    await untilRows([quickId, runningId]);
    await page.getByRole('checkbox', { name: 'in progress' }).check();
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await untilRows([runningId]);
    expect(new URL(page.url()).searchParams.getAll('status')).toEqual(['in_progress']);

    await page.getByRole('button', { name: 'Clear' }).click();
    await untilRows([quickId, runningId]);
    await page.getByLabel('Metadata key').fill('team');
    await page.getByLabel('Metadata value').fill('blue');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await untilRows([quickId]);

    await page.getByLabel('Model').fill('no-such-model');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByText('No batch matches these filters.').waitFor();
    await page.getByRole('button', { name: 'Clear' }).click();
    await untilRows([quickId, runningId]);
  });

  it('opens the running batch and pages through its request lines', async () => {
    await page.getByRole('link', { name: runningId }).click();
    await page.getByRole('heading', { name: runningId }).waitFor();
    const lines = page.locator('table.requests tbody tr');
    await page.getByText('Lines 1–50', { exact: true }).waitFor();
    expect(await lines.count()).toBe(50);
    // Line 1 went first: it has its upstream status, latency and attempts.
    const first = lines.first();
    await first.getByText('completed', { exact: true }).waitFor();
    expect(await first.locator('td').nth(3).textContent()).toBe('200');
    expect(await first.locator('td').nth(4).textContent()).toMatch(/^\d+ ms$/);
    expect(await first.locator('td').nth(5).textContent()).toBe('1');
    // Its answer, read when asked for, pretty-printed; and what the batch has cost so far at its SKU's prices.
    await first.getByRole('button', { name: 'Show answer' }).click();
    await page.locator('tr.answer-row pre.answer-body').getByText('"content": "echo: ', { exact: false }).waitFor();
    await page
      .getByTestId('batch-cost')
      .getByText(/^\d+\.\d{6} [A-Z]{3}/)
      .waitFor();

    await page.getByRole('button', { name: 'Next lines' }).click();
    await page.getByText('Lines 51–100', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Next lines' }).click();
    await page.getByText('Lines 101–150', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Previous lines' }).click();
    await page.getByText('Lines 51–100', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Previous lines' }).click();
    await page.getByText('Lines 1–50', { exact: true }).waitFor();
  });

  it('cancels the batch after a confirmation and shows it cancelled, with its webhook delivery attempts', async () => {
    await page.getByRole('button', { name: 'Cancel batch' }).click();
    const dialog = page.getByRole('dialog', { name: 'Cancel this batch?' });
    await dialog.getByRole('button', { name: 'Cancel batch' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.locator('.head-actions').getByText('cancelled', { exact: true }).waitFor({ timeout: 30_000 });
    expect((await restClient(gw, tenant.apiKey).batch(runningId)).status).toBe('cancelled');
    expect(await page.getByRole('button', { name: 'Cancel batch' }).count()).toBe(0);

    // batch.cancelled: the first attempt answered 500, the retry 200; the page keeps polling while it is pending.
    const delivery = page.locator('article.delivery');
    await delivery.getByText('delivered', { exact: true }).waitFor();
    expect(await delivery.locator('tbody tr').count()).toBe(2);
    await shot('batch-detail');
  });

  it("downloads the batch's input file through a signed link, with no key in it", async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download input file' }).click()]);
    const url = new URL(download.url());
    expect(url.pathname).toMatch(/^\/admin\/files\/file-[^/]+\/content$/);
    expect(download.url()).not.toContain(tenant.apiKey);
    expect(download.url()).not.toContain(gw.adminToken);
    expect(readFileSync(await download.path(), 'utf8')).toBe(requestFile(LONG_BATCH_LINES, MODEL));
  });

  it('creates an account and an API key in the page; the key, shown once, works against /v1/files', async () => {
    await nav('Accounts');
    await page.getByLabel('New account name').fill('made-in-the-console');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'made-in-the-console' }).waitFor();
    await page.getByText('This account has no API key.').waitFor();

    await page.getByRole('button', { name: 'Create API key' }).click();
    const secret = (await page.getByTestId('new-api-key').textContent())!;
    expect(secret).toMatch(/^sk-/);
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: gw.url });
    await page.getByRole('button', { name: 'Copy key' }).click();
    await page.getByRole('button', { name: 'Copied', exact: true }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    const fileId = await restClient(gw, secret).upload(requestFile(2, MODEL));
    expect(fileId).toMatch(/^file-/);
    expect((await rest(gw, secret, 'GET', '/v1/files')).status).toBe(200);
    await shot('accounts');

    await page.getByRole('button', { name: 'I have copied it' }).click();
    expect(await page.getByTestId('new-api-key').count()).toBe(0);
    expect(page.url()).not.toContain(secret);

    // A monthly spend limit: a bad amount is refused next to its field, a good one is shown.
    const limit = page.getByRole('form', { name: 'Spend limit' }).getByLabel('Monthly spend limit');
    await limit.fill('lots');
    await page.getByRole('button', { name: 'Save limit' }).click();
    await page.locator('label.field.invalid', { hasText: 'Monthly spend limit' }).getByText('amount must be').waitFor();
    await limit.fill('250.00');
    await page.getByRole('button', { name: 'Save limit' }).click();
    await page
      .getByTestId('monthly-spend-limit')
      .getByText(/^250\.0+ [A-Z]{3}$/)
      .waitFor();
    // And a quota, shown against the account's use.
    await page.getByRole('form', { name: 'Quotas' }).getByLabel('Max unfinished batches').fill('5');
    await page.getByRole('button', { name: 'Save quotas' }).click();
    await page.getByTestId('unfinished-batches').filter({ hasText: 'of at most 5' }).waitFor();
  });

  it('deactivates the SKU in the page, and then a batch create is refused with batch_routing_unavailable', async () => {
    await nav('Routing');
    const row = page.locator(`tr[data-sku-id="${SKU}"]`);
    await row.getByText('active', { exact: true }).waitFor();

    // A validation error from the API is shown next to its field.
    await page.locator('tr[data-provider-id="fake"]').getByRole('button', { name: 'Edit' }).click();
    const form = page.getByRole('form', { name: 'Edit provider fake' });
    await form.getByLabel('Base URL').fill('not a url');
    await form.getByRole('button', { name: 'Save provider' }).click();
    await form.locator('label.field.invalid', { hasText: 'Base URL' }).getByText('baseUrl must be an http(s) URL').waitFor();
    await form.getByRole('button', { name: 'Cancel' }).click();

    await row.getByRole('button', { name: 'Deactivate' }).click();
    const dialog = page.getByRole('dialog', { name: `Deactivate ${SKU}?` });
    await dialog.getByText('batch_routing_unavailable').waitFor();
    await dialog.getByRole('button', { name: 'Deactivate' }).click();
    await row.getByText('inactive', { exact: true }).waitFor();
    await shot('routing');

    const client = restClient(gw, tenant.apiKey);
    const fileId = await client.upload(requestFile(1, MODEL));
    const refused = await rest(gw, tenant.apiKey, 'POST', '/v1/batches', { input_file_id: fileId, endpoint: '/v1/chat/completions', completion_window: '24h' });
    expect({ status: refused.status, code: refused.body?.error?.code }).toEqual({ status: 400, code: 'batch_routing_unavailable' });
  });

  it('shows the overview: batches by status, charts of lines per minute and error rate per provider, work in progress', async () => {
    await nav('Overview');
    await page.locator('.tile[data-status="cancelled"] .tile-value').getByText('1', { exact: true }).waitFor();
    await page.locator('.tile[data-status="completed"] .tile-value').getByText('1', { exact: true }).waitFor();
    for (const title of ['Lines per minute, by provider', 'Error rate, by provider']) {
      await page.getByRole('img', { name: title }).locator('canvas').waitFor();
    }
    // uPlot's legend names each provider drawn.
    await page.locator('.chart .u-legend').first().getByText('fake', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Last day' }).click();
    await page.getByRole('heading', { name: 'Throughput, last day' }).waitFor();
    await page.getByRole('img', { name: 'Lines per minute, by provider' }).locator('canvas').waitFor();
    await page.getByRole('button', { name: 'Last hour' }).click();
    await page.getByRole('heading', { name: 'Throughput, last hour' }).waitFor();
    await shot('overview');
  });

  it('fits a narrow screen: no page scrolls sideways at 390 px', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    for (const path of ['/', '/batches', `/batches/${runningId}`, '/accounts', '/routing']) {
      await page.goto(`${gw.url}/admin${path}`);
      await page.locator('main h1').first().waitFor();
      const [scrollWidth, innerWidth] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
      expect({ path, scrollWidth }).toEqual({ path, scrollWidth: innerWidth });
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it('ran under the CSP with no violation, console error or uncaught exception, and asked nothing of another origin', () => {
    expect(browser.problems).toEqual([]);
    const origin = new URL(gw.url).origin;
    expect(browser.requests.filter((url) => new URL(url).origin !== origin)).toEqual([]);
    expect(browser.requests.filter((url) => url.includes(gw.adminToken))).toEqual([]);
  });
});
