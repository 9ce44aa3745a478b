/**
 * Time travel end to end (issue #5): the CLI's `replay --at`, `--at` on the read commands,
 * `diff`, and `?at=` on the read API of a running service, all against one data directory
 * written by the demo workload with a snapshot in the middle. Every answer as of a position
 * is compared with an independent derivation: the log cut at that position, replayed alone.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalize } from '../../src/canonical/json.js';
import { replayDir } from '../../src/runtime/replay.js';
import type { StateMachine } from '../../src/runtime/machine.js';
import { initDataDir } from '../../src/store/data-dir.js';
import { cli, jsonLines, tempDir } from '../helpers.js';
import { request, startServe, stopAll } from './service.js';

const root = tempDir();
const data = path.join(root, 'data');
let lines: string[] = [];
let mid = 0;

async function cut(size: number): Promise<StateMachine> {
  const dir = path.join(root, `cut-${size}`);
  if (!fs.existsSync(dir)) {
    initDataDir(dir);
    fs.writeFileSync(path.join(dir, 'events.ndjson'), lines.slice(0, size).map((l) => `${l}\n`).join(''));
  }
  const r = await replayDir(dir, { snapshot: false, threads: 1 });
  expect(r.fault).toBeUndefined();
  return r.machine;
}

beforeAll(() => {
  expect(cli(['--data', data, 'demo', '--commands', '600']).status).toBe(0);
  expect(cli(['--data', data, 'snapshot', 'create', '--json']).status).toBe(0);
  // The demo does not refill a directory: more events after the snapshot come from commands.
  const more = Array.from({ length: 400 }, (_, i) => JSON.stringify({ cmd: 'kv.put', data: { key: `later-${i % 37}`, value: { i } } })).join('\n') + '\n';
  expect(cli(['--data', data, 'cmd', '--stdin'], { input: more }).status).toBe(0);
  lines = fs.readFileSync(path.join(data, 'events.ndjson'), 'utf8').split('\n').slice(0, -1);
  mid = Math.floor(lines.length * 0.75);
}, 120_000);

afterAll(async () => {
  await stopAll();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('stele replay --at and the read commands with --at', () => {
  it('replay --at SEQ prints the roots of the state right after that event', async () => {
    const r = cli(['--data', data, 'replay', '--at', String(mid - 1), '--json']);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { size: number; seq: number; stateRoot: string; logRoot: string; base: { size: number } | null; replayed: number };
    const m = await cut(mid);
    expect(out.size).toBe(mid);
    expect(out.seq).toBe(mid - 1);
    expect(out.stateRoot).toBe(m.stateRoot());
    expect(out.logRoot).toBe((await replayDir(path.join(root, `cut-${mid}`), { snapshot: false })).stats.logRoot);
    expect(out.base?.size).toBeGreaterThan(0);
    expect(out.replayed).toBe(mid - out.base!.size);
  });

  it('replay --at-time gives the state after the last event at or before the time; human output names the base', () => {
    const ts = (JSON.parse(lines[100]!) as { ts: string }).ts;
    const expected = lines.filter((l) => (JSON.parse(l) as { ts: string }).ts <= ts).length;
    const r = cli(['--data', data, 'replay', '--at-time', ts]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^size\\s+${expected} \\(after event ${expected - 1}`));
    expect(r.stdout).toMatch(/derived\s+from genesis/);
  });

  it('state get, state dump, ledger balance, ledger accounts and stats accept --at and agree with the cut log', async () => {
    const m = await cut(mid);
    const accounts = m.entries.list('account:');
    const [accountKey, account] = accounts[0]!;
    const id = accountKey.slice('account:'.length);
    const balance = cli(['--data', data, 'ledger', 'balance', id, '--at', String(mid - 1)]);
    expect(balance.stdout.trim()).toBe((account as { balance: string }).balance);
    const get = cli(['--data', data, 'state', 'get', accountKey, '--at', String(mid - 1), '--json']);
    expect(JSON.parse(get.stdout)).toMatchObject({ key: accountKey, value: account, size: mid, stateRoot: m.stateRoot() });
    const dump = cli(['--data', data, 'state', 'dump', '--at', String(mid - 1)]);
    expect(canonicalize(jsonLines(dump.stdout) as never)).toBe(canonicalize(m.entries.entries() as never));
    const listed = cli(['--data', data, 'ledger', 'accounts', '--json', '--at', String(mid - 1)]);
    expect(jsonLines(listed.stdout)).toHaveLength(accounts.length);
    const stats = cli(['--data', data, 'stats', '--json', '--at', String(mid - 1)]);
    expect(JSON.parse(stats.stdout)).toMatchObject({ size: mid, stateRoot: m.stateRoot() });
  });

  it('refuses a position past the end, both --at and --at-time, and a bad time: exit 2, nothing printed on stdout', () => {
    for (const args of [['replay', '--at', String(lines.length)], ['state', 'get', 'kv:x', '--at', '1', '--at-time', '2026-01-01'], ['replay', '--at-time', 'yesterday']]) {
      const r = cli(['--data', data, ...args]);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/STELE_E_(SIZE_OUT_OF_RANGE|USAGE)/);
    }
  });
});

describe('stele diff', () => {
  it('lists the keys added, changed and removed between two positions', async () => {
    const a = 200;
    const b = mid;
    const r = cli(['--data', data, 'diff', String(a - 1), String(b - 1), '--json']);
    expect(r.status).toBe(0);
    const [summary, ...changes] = jsonLines(r.stdout) as [{ from: { size: number }; to: { size: number }; counts: { added: number; changed: number; removed: number } }, ...{ change: string; key: string; before?: unknown; after?: unknown }[]];
    expect(summary.from.size).toBe(a);
    expect(summary.to.size).toBe(b);
    const before = new Map((await cut(a)).entries.entries());
    const after = new Map((await cut(b)).entries.entries());
    for (const c of changes) {
      if (c.change === 'added') expect(before.has(c.key) || !after.has(c.key)).toBe(false);
      if (c.change === 'removed') expect(after.has(c.key) || !before.has(c.key)).toBe(false);
      if (c.change !== 'added') expect(c.before).toEqual(before.get(c.key));
      if (c.change !== 'removed') expect(c.after).toEqual(after.get(c.key));
    }
    const touched = new Set(changes.map((c) => c.key));
    for (const [k, v] of after) if (!touched.has(k)) expect(canonicalize(before.get(k) as never)).toBe(canonicalize(v as never));
    expect(summary.counts.added + summary.counts.changed + summary.counts.removed).toBe(changes.length);
  });

  it('genesis is the empty state, and the human output marks each change', () => {
    const r = cli(['--data', data, 'diff', 'genesis', '20', '--prefix', 'account:']);
    expect(r.status).toBe(0);
    const body = r.stdout.split('\n').slice(1).filter((l) => l !== '');
    expect(body.length).toBeGreaterThan(0);
    expect(body.every((l) => l.startsWith('+ account:'))).toBe(true);
  });
});

describe('?at= on the read API', () => {
  it('state, accounts and stats answer as of a past position, from the files', async () => {
    const service = await startServe(data, ['--port', '0']);
    const m = await cut(mid);
    const [accountKey, account] = m.entries.list('account:')[0]!;
    const state = await request<{ key: string; value: unknown; size: number; at: { size: number; stateRoot: string }; proof: { stateRoot: string } }>(service.url, `/v1/state/${encodeURIComponent(accountKey)}?at=${mid - 1}`);
    expect(state.status).toBe(200);
    expect(state.json).toMatchObject({ key: accountKey, value: account, size: mid, at: { size: mid, stateRoot: m.stateRoot() }, proof: { stateRoot: m.stateRoot() } });
    const id = accountKey.slice('account:'.length);
    const acc = await request<{ balance: string; at: { size: number } }>(service.url, `/v1/accounts/${encodeURIComponent(id)}?at=${mid - 1}`);
    expect(acc.status).toBe(200);
    expect(acc.json.balance).toBe((account as { balance: string }).balance);
    const stats = await request<{ size: number; at: { stateRoot: string } }>(service.url, `/v1/stats?at=${mid - 1}`);
    expect(stats.json.size).toBe(mid);
    expect(stats.json.at.stateRoot).toBe(m.stateRoot());
    const now = await request<{ size: number }>(service.url, '/v1/stats');
    expect(now.json.size).toBeGreaterThan(mid);
    const both = await request<{ error: { code: string } }>(service.url, `/v1/stats?at=1&atTime=2026-01-01`);
    expect(both.status).toBe(400);
    expect(both.json.error.code).toBe('STELE_E_SCHEMA');
    const past = await request<{ error: { code: string } }>(service.url, `/v1/stats?at=${lines.length + 100}`);
    expect(past.status).toBe(400);
    expect(past.json.error.code).toBe('STELE_E_SIZE_OUT_OF_RANGE');
    const early = await request<{ error: { code: string } }>(service.url, `/v1/accounts/${encodeURIComponent(id)}?at=0`);
    expect(early.status).toBe(404);
  }, 60_000);
});
