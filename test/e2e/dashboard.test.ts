/**
 * The dashboard at `/`, in real headless Chromium (Debian's package, see browser.ts) against
 * the real `stele serve` process on an ephemeral port: it loads with no console errors,
 * shows the roots and counts the API reports, follows appends live through SSE without a
 * reload, looks accounts up, verifies an inclusion proof in the browser and shows a
 * tampered proof as failed. A screenshot is saved to test/e2e/artifacts/dashboard.png.
 *
 * Waits are bounded polls on conditions (expect.poll, locator waits), never sleeps.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from './browser.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cliPath = path.join(repoRoot, 'dist/src/cli/main.js');
const artifactsDir = path.join(repoRoot, 'test/e2e/artifacts');
const screenshotPath = path.join(artifactsDir, 'dashboard.png');

/** Bound of every wait for the page to reflect something (SSE status is sent at most every 250 ms). */
const waitMs = 15_000;
/** Bound of the wait for the server's first stdout line (it replays an empty log). */
const startMs = 30_000;

const token = `dashboard-test-${randomBytes(12).toString('hex')}`;

interface Status {
  role: string;
  size: number;
  logRoot: string;
  stateRoot: string;
  headHash: string;
  integrity: { status: string };
}

interface Ack {
  seq: number;
  hash: string;
  size: number;
  logRoot: string;
}

interface CommandAnswer {
  ok: true;
  acks: Ack[];
}

interface Stats {
  executions: { total: number; successRate: number };
}

/** `GET /v1/events/{seq}`, as the tampering route rewrites it. */
interface EventAnswer {
  line: string;
  proof: { path: string[]; logRoot: string };
}

interface Server {
  child: ChildProcessWithoutNullStreams;
  url: string;
  stderr: string[];
}

/** Starts `stele serve` (or `observe`) and resolves with its URL from the first stdout line (a JSON object). */
function startServer(dataDir: string, role: 'serve' | 'observe' = 'serve'): Promise<Server> {
  const child = spawn(process.execPath, [cliPath, role, '--data', dataDir, '--port', '0'], {
    env: { ...process.env, STELE_TOKEN: token },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`stele ${role} printed no line within ${startMs} ms; stderr: ${stderr.join('')}`));
    }, startMs);
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      clearTimeout(timer);
      try {
        const { url } = JSON.parse(line) as { url: string };
        resolve({ child, url, stderr });
      } catch (err) {
        reject(new Error(`stele ${role}'s first line is not JSON with a url: ${line}`, { cause: err }));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`stele ${role} exited (${code ?? signal}) before listening; stderr: ${stderr.join('')}`));
    });
  });
}

async function stopServer(server: Server | undefined): Promise<void> {
  if (server === undefined || server.child.exitCode !== null) return;
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGTERM');
  const killer = setTimeout(() => server.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(killer);
}

const fmt = (n: number): string => n.toLocaleString('en-US');

describe('dashboard in headless Chromium against stele serve', () => {
  let dataDir: string;
  let server: Server | undefined;
  let browser: Browser;
  let page: Page;
  /** Console errors and warnings, and uncaught page errors, in the order they happened. */
  const problems: string[] = [];

  async function api<T>(route: string): Promise<T> {
    const res = await fetch(server!.url + route);
    expect(res.status, `GET ${route}`).toBe(200);
    return (await res.json()) as T;
  }

  /** POST /v1/commands; returns the status and the body. */
  async function command(cmd: string, data: unknown): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${server!.url}/v1/commands`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ cmd, data }),
    });
    return { status: res.status, body: await res.json() };
  }

  async function ok(cmd: string, data: unknown): Promise<CommandAnswer> {
    const { status, body } = await command(cmd, data);
    expect(status, `${cmd} ${JSON.stringify(body)}`).toBe(200);
    return body as CommandAnswer;
  }

  const text = (testId: string): Promise<string> => page.getByTestId(testId).innerText();

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'stele-dashboard-'));
    server = await startServer(dataDir);
    await ok('ledger.open', { account: 'alice' });
    await ok('ledger.open', { account: 'bob' });
    await ok('ledger.deposit', { id: 'd1', account: 'alice', amount: '1000000' });
    await ok('ledger.transfer', { id: 't1', from: 'alice', to: 'bob', amount: '2500', memo: 'rent' });
    const overdraft = await command('ledger.transfer', { id: 't2', from: 'bob', to: 'alice', amount: '999999999' });
    expect(overdraft.status).toBe(409);
    await ok('audit.execution', { txId: 'x1', intent: 'pay rent', status: 'succeeded', elapsedMs: 12.5 });
    await ok('audit.execution', { txId: 'x2', intent: 'swap', status: 'succeeded', elapsedMs: 30 });
    await ok('audit.execution', { txId: 'x3', intent: 'withdraw all', status: 'blocked', elapsedMs: 4 });
    await ok('audit.attack', { type: 'prompt_injection', layer: 'input-filter', severity: 0.9 });
    await ok('audit.attack', { type: 'exfiltration', layer: 'egress', severity: 0.4 });
    await ok('kv.put', { key: 'config/mode', value: 'live' });

    browser = await launchBrowser();
    page = await newPage();
  });

  /** A page whose console errors and warnings, and uncaught errors, go to `problems`. */
  async function newPage(): Promise<Page> {
    const created = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    created.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
    });
    created.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    return created;
  }

  afterAll(async () => {
    await browser?.close();
    await stopServer(server);
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  });

  it('loads with no console errors and shows the roots and counts of the API', async () => {
    const response = await page.goto(server!.url + '/');
    expect(response?.status()).toBe(200);
    // The stream is open once the live indicator says so; the page loaded everything before.
    await page.locator('[data-testid="live"].up').waitFor({ timeout: waitMs });

    const status = await api<Status>('/v1/status');
    expect(await text('log-size')).toBe(fmt(status.size));
    expect(await text('log-root')).toBe(status.logRoot);
    expect(await text('state-root')).toBe(status.stateRoot);
    expect(await text('head-hash')).toBe(status.headHash);
    expect(await text('role')).toBe('writer');
    expect(status.integrity.status).toBe('ok');
    expect(await text('integrity')).toContain('verified');
    expect(await page.getByTestId('integrity').getAttribute('class')).toContain('ok');

    const stats = await api<Stats>('/v1/stats');
    expect(stats.executions.total).toBe(3);
    expect(await text('executions')).toBe('3');
    expect(await text('success-rate')).toBe(`${(stats.executions.successRate * 100).toFixed(1)} %`);
    expect(await text('success-rate')).toBe('66.7 %');
    expect(await text('attacks-total')).toBe('2');
    expect(await text('attacks-by-type')).toContain('prompt_injection');
    expect(await text('attacks-by-layer')).toContain('egress');
    expect(await text('rejections-by-reason')).toContain('LEDGER_INSUFFICIENT_FUNDS');

    // The recent-events table holds every event (fewer than 50), newest first.
    const rows = page.getByTestId('recent-events').locator('tr[data-seq]');
    expect(await rows.count()).toBe(Math.min(50, status.size));
    expect(await rows.first().getAttribute('data-seq')).toBe(String(status.size - 1));

    // The chart counts what /v1/series counts.
    const series = await api<{ minutes: { counts: Record<string, number> }[] }>('/v1/series?minutes=60');
    const seriesTotal = series.minutes.reduce((sum, m) => sum + Object.values(m.counts).reduce((a, b) => a + b, 0), 0);
    expect(seriesTotal).toBeGreaterThan(0);
    await expect.poll(() => page.getByTestId('chart').getAttribute('data-total'), { timeout: waitMs }).toBe(String(seriesTotal));

    expect(problems).toEqual([]);
  });

  it('updates the size, roots, table and counts live after appends, without a reload', async () => {
    // A reload would drop this mark.
    await page.evaluate(() => ((globalThis as unknown as { steleMark: number }).steleMark = 42));
    const chartBefore = Number(await page.getByTestId('chart').getAttribute('data-total'));

    const deposit = await ok('ledger.deposit', { id: 'd2', account: 'bob', amount: '777' });
    const seq = deposit.acks[0]!.seq;

    const row = page.locator(`[data-testid="recent-events"] tr[data-seq="${seq}"]`);
    await row.waitFor({ timeout: waitMs });
    expect(await row.innerText()).toContain('ledger.deposited');
    expect(await row.innerText()).toContain('bob +777');
    expect(await page.getByTestId('recent-events').locator('tr[data-seq]').first().getAttribute('data-seq')).toBe(String(seq));

    // The header follows the status stream: wait until it shows the size the API reports
    // after the append, then every root must be that status's.
    await expect.poll(async () => Number((await text('log-size')).replaceAll(',', '')), { timeout: waitMs }).toBeGreaterThan(seq);
    await expect
      .poll(async () => {
        const status = await api<Status>('/v1/status');
        return (await text('log-size')) === fmt(status.size) && (await text('log-root')) === status.logRoot && (await text('state-root')) === status.stateRoot;
      }, { timeout: waitMs })
      .toBe(true);

    // Executions come from /v1/stats, refreshed (at most every 2 s) after stream events.
    await ok('audit.execution', { txId: 'x4', intent: 'pay invoice', status: 'failed', elapsedMs: 80 });
    await expect.poll(() => text('executions'), { timeout: waitMs }).toBe('4');
    await expect.poll(() => text('success-rate'), { timeout: waitMs }).toBe('50.0 %');
    await expect.poll(async () => Number(await page.getByTestId('chart').getAttribute('data-total')), { timeout: waitMs }).toBeGreaterThanOrEqual(chartBefore + 2);

    expect(await page.evaluate(() => (globalThis as unknown as { steleMark?: number }).steleMark)).toBe(42);
    expect(problems).toEqual([]);
  });

  it('looks an account up with its balance and history, and says so when there is none', async () => {
    const account = await api<{ balance: string; history: unknown[] }>('/v1/accounts/alice');
    expect(account.balance).toBe('997500');
    await page.getByTestId('account-input').fill('alice');
    await page.getByTestId('account-input').press('Enter');
    await expect.poll(() => text('account-balance'), { timeout: waitMs }).toBe('997,500');
    expect(await text('account-status')).toContain('open');
    const history = page.getByTestId('account-history').locator('tr');
    expect(await history.count()).toBe(account.history.length);
    expect(await history.first().innerText()).toContain('−2,500');

    // Live: a transfer touching the shown account refreshes it.
    await ok('ledger.transfer', { id: 't3', from: 'bob', to: 'alice', amount: '500' });
    await expect.poll(() => text('account-balance'), { timeout: waitMs }).toBe('998,000');

    const before = problems.length;
    await page.getByTestId('account-input').fill('nobody');
    await page.getByTestId('account-input').press('Enter');
    await page.getByTestId('account-error').waitFor({ timeout: waitMs });
    expect(await text('account-error')).toContain('No account named nobody');
    // The browser itself logs the 404 of that fetch; that line, and only it, is expected.
    const logged = problems.splice(before);
    expect(logged.every((line) => /Failed to load resource.*404/.test(line)), logged.join('\n')).toBe(true);
    expect(problems).toEqual([]);
  });

  it('verifies an event inclusion proof in the browser, from the table or by seq', async () => {
    const status = await api<Status>('/v1/status');
    await expect.poll(() => text('log-size'), { timeout: waitMs }).toBe(fmt(status.size));
    // Click the transfer in the recent-events table: the lookup opens with its proof.
    const transfer = await api<{ events: { seq: number }[] }>('/v1/events?type=ledger.transferred&limit=1');
    const seq = transfer.events[0]!.seq;
    await page.locator(`[data-testid="recent-events"] tr[data-seq="${seq}"]`).click();
    await expect.poll(() => text('proof-result'), { timeout: waitMs }).toBe('✔ inclusion proof verified in your browser');
    expect(await page.getByTestId('event-input').inputValue()).toBe(String(seq));
    expect(await text('event-data')).toContain('"memo": "rent"');
    // The proof is for the current log (nothing was appended since the status above).
    await expect.poll(() => text('proof-root'), { timeout: waitMs }).toContain(`is the current log root (size ${fmt(status.size)})`);

    await page.getByTestId('event-input').fill('0');
    await page.getByTestId('event-input').press('Enter');
    await expect.poll(() => text('proof-result'), { timeout: waitMs }).toBe('✔ inclusion proof verified in your browser');
    expect(await text('proof-checks')).toContain('the line is event 0');
    expect(problems).toEqual([]);
  });

  it('shows a tampered proof or event line as failed, naming what failed', async () => {
    const seq = 1;
    /** Serves GET /v1/events/1 through `tamper`. */
    const tamperWith = async (tamper: (answer: EventAnswer) => void): Promise<void> => {
      await page.unrouteAll();
      await page.route(/\/v1\/events\/\d+$/, async (route) => {
        const response = await route.fetch();
        const answer = (await response.json()) as EventAnswer;
        tamper(answer);
        await route.fulfill({ response, json: answer });
      });
    };
    const flip = (hex: string): string => (hex[0] === '0' ? '1' : '0') + hex.slice(1);

    try {
      // One hash of the inclusion path altered: the path no longer leads to the root.
      await tamperWith((answer) => {
        expect(answer.proof.path.length).toBeGreaterThan(0);
        answer.proof.path[0] = flip(answer.proof.path[0]!);
      });
      await page.getByTestId('event-input').fill(String(seq));
      await page.getByTestId('event-input').press('Enter');
      await expect.poll(() => text('proof-result'), { timeout: waitMs }).toMatch(/^✘ verification FAILED: inclusion path/);
      expect(await page.getByTestId('proof-result').getAttribute('class')).toContain('bad');

      // The event line altered (its type renamed) while its claimed hash is kept.
      await tamperWith((answer) => {
        answer.line = answer.line.replace('"type":"', '"type":"x');
      });
      await page.getByTestId('event-form').locator('button').click();
      await expect.poll(() => text('proof-result'), { timeout: waitMs }).toMatch(/^✘ verification FAILED: SHA-256 of the event line equals its hash/);

      // The root claimed by the proof replaced: the path leads elsewhere.
      await tamperWith((answer) => {
        answer.proof.logRoot = flip(answer.proof.logRoot);
      });
      await page.getByTestId('event-form').locator('button').click();
      await expect.poll(() => text('proof-result'), { timeout: waitMs }).toMatch(/^✘ verification FAILED: inclusion path/);
    } finally {
      await page.unrouteAll();
    }

    // Untampered again: verified.
    await page.getByTestId('event-form').locator('button').click();
    await expect.poll(() => text('proof-result'), { timeout: waitMs }).toBe('✔ inclusion proof verified in your browser');
    expect(problems).toEqual([]);
  });

  it('turns the integrity badge red with the fault on a panic status or an alarm from the stream', async () => {
    // A healthy writer cannot be made to panic from outside, so the answers are rewritten in
    // flight; what is tested is what the operator sees.
    const context = await browser.newContext();
    const other = await context.newPage();
    const seen: string[] = [];
    other.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') seen.push(message.text());
    });
    other.on('pageerror', (err) => seen.push(err.message));
    try {
      await other.route(/\/v1\/status$/, async (route) => {
        const response = await route.fetch();
        const status = (await response.json()) as Record<string, unknown>;
        status['integrity'] = { status: 'panic', fault: { code: 'STELE_E_PANIC', message: 'event 3: prev does not match the hash of event 2' } };
        await route.fulfill({ response, json: status });
      });
      // Keep the real stream's status messages (which say ok) away from this page.
      await other.route(/\/v1\/stream/, (route) => route.fulfill({ status: 200, contentType: 'text/event-stream', body: ': quiet\n\n' }));
      await other.goto(server!.url + '/');
      await expect.poll(() => other.getByTestId('integrity').innerText(), { timeout: waitMs }).toBe('✘ PANIC');
      expect(await other.getByTestId('integrity').getAttribute('class')).toContain('bad');
      expect(await other.getByTestId('fault').innerText()).toContain('prev does not match the hash of event 2');

      // The stream's alarm turns a green badge red.
      await other.unrouteAll();
      const alarm = { code: 'STELE_E_INTEGRITY_ALARM', message: 'events.ndjson shrank from 4096 to 100 bytes', where: { file: 'events.ndjson' } };
      await other.route(/\/v1\/stream/, (route) => route.fulfill({ status: 200, contentType: 'text/event-stream', body: `event: alarm\ndata: ${JSON.stringify(alarm)}\n\n` }));
      await other.reload();
      await expect.poll(() => other.getByTestId('integrity').innerText(), { timeout: waitMs }).toBe('✘ ALARM');
      expect(await other.getByTestId('fault').innerText()).toContain('events.ndjson shrank');
    } finally {
      await context.close();
    }
    expect(seen).toEqual([]);
  });

  it('on an observer, shows its role and lag, and turns red live when the log under it shrinks', async () => {
    // The observer follows a copy of the writer's log (its own directory, so that damaging
    // it harms no other test).
    const copyDir = mkdtempSync(path.join(tmpdir(), 'stele-dashboard-observed-'));
    let observer: Server | undefined;
    const other = await newPage();
    try {
      for (const name of readdirSync(dataDir)) {
        // The log and the directory's header; derived files (tree, index) are rebuilt, and the lock is the writer's.
        if (name === 'events.ndjson' || name === 'stele.json') copyFileSync(path.join(dataDir, name), path.join(copyDir, name));
      }
      observer = await startServer(copyDir, 'observe');
      await other.goto(observer.url + '/');
      await other.locator('[data-testid="live"].up').waitFor({ timeout: waitMs });
      const status = (await (await fetch(observer.url + '/v1/status')).json()) as Status;
      expect(status.role).toBe('observer');
      expect(await other.getByTestId('role').innerText()).toBe('observer');
      expect(await other.getByTestId('log-root').innerText()).toBe(status.logRoot);
      expect(await other.getByTestId('lag').isVisible()).toBe(true);
      expect(await other.getByTestId('lag').innerText()).toBe('caught up');
      expect(await other.getByTestId('integrity').innerText()).toBe('✔ verified');
      expect(problems).toEqual([]);

      // Cut the log after its first line: bytes the observer already read are gone.
      const log = path.join(copyDir, 'events.ndjson');
      truncateSync(log, readFileSync(log).indexOf(0x0a) + 1);
      await expect.poll(() => other.getByTestId('integrity').innerText(), { timeout: waitMs }).toBe('✘ ALARM');
      expect(await other.getByTestId('integrity').getAttribute('class')).toContain('bad');
      expect(await other.getByTestId('fault').innerText()).toMatch(/^Integrity alarm: .+/);
    } finally {
      await other.close();
      await stopServer(observer);
      rmSync(copyDir, { recursive: true, force: true });
    }
    // After the alarm the observer refuses its data routes (503) and the browser logs those
    // failed requests; anything else would be a defect of the page.
    const logged = problems.splice(0);
    expect(logged.filter((line) => !/503|EventSource/.test(line)), logged.join('\n')).toEqual([]);
  });

  it('opens the lookups of a link (#account=…&event=…) and saves a screenshot as a test artifact', async () => {
    // A fresh page: going to the same document with another fragment would not load it.
    await page.close();
    page = await newPage();
    await page.goto(`${server!.url}/#account=alice&event=3`);
    await expect.poll(() => text('account-balance'), { timeout: waitMs }).toBe('998,000');
    await expect.poll(() => text('proof-result'), { timeout: waitMs }).toBe('✔ inclusion proof verified in your browser');
    expect(await page.getByTestId('event-input').inputValue()).toBe('3');
    await page.locator('[data-testid="live"].up').waitFor({ timeout: waitMs });
    mkdirSync(artifactsDir, { recursive: true });
    rmSync(screenshotPath, { force: true });
    await page.screenshot({ path: screenshotPath, fullPage: true });
    expect(statSync(screenshotPath).size).toBeGreaterThan(10_000);
    expect(readFileSync(screenshotPath).subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(problems).toEqual([]);
  });
});
