/**
 * The dashboard's "check a proof file" panel in headless Chromium (Debian's package, see
 * browser.ts) against `stele observe`: a bundle written by `stele prove` is picked or dropped
 * and checked in the page by the compiled src/proof/bundle.ts on @noble/hashes and
 * @noble/curves (served under /assets/lib and /assets/vendor, allowed by the page's CSP
 * import map hash); a valid bundle shows valid, an altered one names the failing check, a
 * pinned key is required when given, and the page logs no console error. The verdicts are
 * the CLI's own (`stele check-proof --json`) check for check.
 *
 * Waits are bounded locator waits on the verdict element, never sleeps.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, tempDir } from '../helpers.js';
import type { TestKey } from '../proof/fixtures.js';
import { freshDataDir, newKey, writeWorkload } from '../proof/fixtures.js';
import { launchBrowser } from './browser.js';
import type { Service } from './service.js';
import { startObserve, stopAll } from './service.js';

/** Bound of every wait for the page to show a verdict (it loads the verifier on first use). */
const waitMs = 20_000;

let root: string;
let key: TestKey;
let other: TestKey;
let data: string;
let service: Service;
let browser: Browser;
let page: Page;
const problems: string[] = [];
const files: Record<'event' | 'state' | 'absent' | 'altered' | 'malformed', string> = {} as never;

function write(name: string, text: string): string {
  const file = path.join(root, name);
  fs.writeFileSync(file, text);
  return file;
}

function prove(args: string[]): string {
  const r = cli(['--data', data, 'prove', ...args]);
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
}

beforeAll(async () => {
  root = tempDir('stele-proof-browser-');
  key = newKey(root, 'writer.key');
  other = newKey(root, 'other.key');
  data = freshDataDir(root, 'data');
  await writeWorkload(data, { signingKey: key.signing });
  const event = prove(['event', '6']);
  files.event = write('event6.json', event);
  files.state = write('kv-a.json', prove(['state', 'kv:a']));
  files.absent = write('kv-gone.json', prove(['state', 'kv:gone']));
  // One hex digit of the inclusion path changed: still well-formed, the proof fails.
  const at = event.indexOf('"path":["') + '"path":["'.length;
  files.altered = write('altered.json', event.slice(0, at) + (event[at] === '0' ? '1' : '0') + event.slice(at + 1));
  files.malformed = write('malformed.json', JSON.stringify(JSON.parse(event), null, 2));
  service = await startObserve(data);
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  const response = await page.goto(`${service.url}/`);
  expect(response?.status()).toBe(200);
  await page.locator('[data-testid="live"].up').waitFor({ timeout: waitMs });
});

afterAll(async () => {
  await browser?.close();
  await stopAll();
  fs.rmSync(root, { recursive: true, force: true });
});

/** The verdict element once it shows the result for `name` (a new check replaces the old). */
async function verdictFor(name: string): Promise<{ text: string; valid: string | null; anchored: string | null; failed: string[] }> {
  await page.locator('[data-testid="proof-file-result"] dd', { hasText: name }).first().waitFor({ timeout: waitMs });
  const verdict = page.getByTestId('proof-file-verdict');
  await verdict.waitFor({ timeout: waitMs });
  const failed = await checkIds('li.bad');
  return { text: await verdict.innerText(), valid: await verdict.getAttribute('data-valid'), anchored: await verdict.getAttribute('data-anchored'), failed };
}

async function pick(file: string): Promise<void> {
  await page.getByTestId('proof-file-input').setInputFiles(file);
}

/** The `data-check` ids of the check items matching `selector`, in order. */
async function checkIds(selector = 'li'): Promise<string[]> {
  const items = page.locator(`[data-testid="proof-file-checks"] ${selector}`);
  const out: string[] = [];
  for (let i = 0; i < (await items.count()); i++) out.push((await items.nth(i).getAttribute('data-check')) ?? '');
  return out;
}

/** Drops `file` on the drop zone as a person dragging it from a file manager would. */
async function drop(file: string): Promise<void> {
  const bytes = [...fs.readFileSync(file)];
  // Runs in the page: DataTransfer and File are the browser's (this file has no DOM types).
  const transfer = await page.evaluateHandle(
    ({ name, bytes }) => {
      const web = globalThis as unknown as {
        DataTransfer: new () => { items: { add(file: unknown): void } };
        File: new (parts: Uint8Array[], name: string, options: { type: string }) => unknown;
      };
      const dt = new web.DataTransfer();
      dt.items.add(new web.File([new Uint8Array(bytes)], name, { type: 'application/json' }));
      return dt;
    },
    { name: path.basename(file), bytes },
  );
  await page.getByTestId('proof-drop').dispatchEvent('drop', { dataTransfer: transfer });
}

function cliVerdict(file: string, pubkey?: string): { valid: boolean; checks: { id: string; ok: boolean }[] } {
  const r = cli(['check-proof', file, '--json', ...(pubkey === undefined ? [] : ['--pubkey', pubkey])]);
  return JSON.parse(r.stdout) as { valid: boolean; checks: { id: string; ok: boolean }[] };
}

describe('check a proof file, in the browser', () => {
  it('a picked event bundle: valid, anchored, every check shown', async () => {
    await pick(files.event);
    const v = await verdictFor('event6.json');
    expect(v.valid).toBe('true');
    expect(v.anchored).toBe('true');
    expect(v.text).toContain('✔ valid: event 6');
    expect(v.failed).toEqual([]);
    expect(await checkIds()).toEqual(cliVerdict(files.event).checks.map((c) => c.id));
    expect(await page.getByTestId('proof-file-signer').innerText()).toBe(key.pub.keyId);
  });

  it('an altered bundle: the failing check is named', async () => {
    await pick(files.altered);
    const v = await verdictFor('altered.json');
    expect(v.valid).toBe('false');
    expect(v.failed).toEqual(['inclusion']);
    expect(v.text).toContain("✘ verification FAILED: the inclusion path (");
    expect(v.text).toContain("leads from the event to the checkpoint's signed root of the log of size 14");
    expect(cliVerdict(files.altered).checks.filter((c) => !c.ok).map((c) => c.id)).toEqual(['inclusion']);
  });

  it('a malformed file: refused by the format check', async () => {
    await pick(files.malformed);
    const v = await verdictFor('malformed.json');
    expect(v.valid).toBe('false');
    expect(v.failed).toEqual(['format']);
    expect(v.text).toContain('✘ malformed');
  });

  it('dropped state bundles (present and absent): valid', async () => {
    await drop(files.state);
    const present = await verdictFor('kv-a.json');
    expect(present.valid).toBe('true');
    expect(present.text).toContain('kv:a has the value');
    await drop(files.absent);
    const absent = await verdictFor('kv-gone.json');
    expect(absent.valid).toBe('true');
    expect(absent.text).toContain('kv:gone is absent');
  });

  it('a pinned key: the signer must be it; another key fails, a malformed key is refused', async () => {
    await pick(files.event);
    await verdictFor('event6.json');
    const input = page.getByTestId('proof-pubkey');
    await input.fill(key.pubHex);
    await page.locator('[data-testid="proof-file-checks"] li[data-check="pinned"].ok').waitFor({ timeout: waitMs });
    expect((await verdictFor('event6.json')).text).toContain('signed by pinned key');
    await input.fill(other.pubHex);
    await page.locator('[data-testid="proof-file-checks"] li[data-check="pinned"].bad').waitFor({ timeout: waitMs });
    const wrong = await verdictFor('event6.json');
    expect(wrong.valid).toBe('false');
    expect(wrong.failed).toEqual(['pinned']);
    expect(cliVerdict(files.event, other.pubHex).valid).toBe(false);
    await input.fill('not a key');
    await page.getByTestId('proof-file-error').waitFor({ timeout: waitMs });
    await input.fill('');
    await page.getByTestId('proof-file-verdict').waitFor({ timeout: waitMs });
  });

  it('no console errors, and the verifier came from this origin', async () => {
    const loaded = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname));
    expect(loaded).toEqual(expect.arrayContaining(['/assets/lib/proof/bundle.js', '/assets/vendor/noble-curves/ed25519.js']));
    fs.mkdirSync(path.join(path.dirname(new URL(import.meta.url).pathname), 'artifacts'), { recursive: true });
    await page.getByTestId('proof-file-result').screenshot({ path: path.join(path.dirname(new URL(import.meta.url).pathname), 'artifacts', 'proof-file.png') });
    expect(problems).toEqual([]);
  });
});
