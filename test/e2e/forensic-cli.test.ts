/**
 * `stele forensic`, `stele trace`, `stele explain account` as processes: exit codes (0 when
 * everything agrees, 1 on a divergence or a damaged log, 2 for usage, 3 for a missing
 * directory), the Markdown and JSON report shapes, --out, NDJSON traces and explanations.
 * The data directory is filled by `stele demo` (checkpoints, two snapshots, eight bundles).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/canonical/json.js';
import type { ForensicReport } from '../../src/forensic/report.js';
import type { forensicAudit as ForensicAudit } from '../../src/forensic/audit.js';
import type { explainAccount as ExplainAccount } from '../../src/forensic/explain.js';
import type { traceKey as TraceKey } from '../../src/forensic/trace.js';
import { cli, jsonLines, repoRoot, tempDir } from '../helpers.js';
import { alterSnapshotEntry, snapshotEntries } from '../forensic/fixtures.js';

let root: string;
let data: string;

beforeAll(() => {
  root = tempDir('stele-forensic-e2e-');
  data = path.join(root, 'data');
  expect(cli(['--data', data, 'init']).status).toBe(0);
  const demo = cli(['--data', data, '--checkpoint-every', '50', '--snapshot-every', '150', 'demo', '--commands', '400']);
  expect(demo.status, demo.stderr).toBe(0);
});

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

/** A copy of the demo directory to damage. */
function copy(name: string): string {
  const target = path.join(root, name);
  fs.cpSync(data, target, { recursive: true });
  return target;
}

function snapshotFiles(dir: string): string[] {
  return fs
    .readdirSync(path.join(dir, 'snapshots'))
    .filter((n) => n.endsWith('.ndjson'))
    .sort()
    .map((n) => path.join(dir, 'snapshots', n));
}

/** A bundle file of the vault (the first, by name). */
function someBundle(dir: string): { hash: string; file: string } {
  const sub = fs.readdirSync(path.join(dir, 'vault')).sort()[0]!;
  const hash = fs.readdirSync(path.join(dir, 'vault', sub)).sort()[0]!;
  return { hash, file: path.join(dir, 'vault', sub, hash) };
}

describe('stele forensic', () => {
  it('a clean directory: exit 0, a Markdown report by default', () => {
    const r = cli(['--data', data, 'forensic']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.startsWith('# stele forensic report\n\n**Result: no divergence**\n')).toBe(true);
    expect(r.stdout).toContain('- base: genesis (every event re-derived)');
    expect(r.stdout).toContain('None: every checkpoint, snapshot and bundle agrees with the state derived from the log.');
    expect(r.stdout).toContain('| snapshots compared with the derived state | 2 |');
    expect(r.stdout).toContain('| bundles checked | 8 |');
    expect(r.stdout).not.toContain('## First divergence');
  });

  it('--report json: one JSON document, ok:true, with counts and timings; --out writes it to a file', () => {
    const r = cli(['--data', data, 'forensic', '--report', 'json']);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as ForensicReport;
    expect(report).toMatchObject({ format: 'stele.forensic', version: 1, ok: true, first: null, findings: [], findingsOmitted: 0, divergences: 0, base: { from: 'genesis' }, derived: { complete: true } });
    expect(report.error).toBeUndefined();
    expect(report.checked).toMatchObject({ snapshots: 2, snapshotsCompared: 2, bundles: 8, vaultFiles: 8 });
    expect(report.checked.checkpoints).toBeGreaterThan(5);
    expect(report.checked.events).toBe(report.log.size);
    expect(typeof report.ms.total).toBe('number');

    const out = path.join(root, 'report.json');
    const written = cli(['--data', data, 'forensic', '--report', 'json', '--out', out]);
    expect(written.status).toBe(0);
    expect(written.stdout).toMatch(/^wrote .*report\.json: no divergence \(/);
    expect((JSON.parse(fs.readFileSync(out, 'utf8')) as ForensicReport).ok).toBe(true);
  });

  it('--from SEQ names the snapshot it trusted', () => {
    const newest = path.basename(snapshotFiles(data).at(-1)!);
    const size = Number(newest.slice(0, 16));
    const report = JSON.parse(cli(['--data', data, 'forensic', '--from', String(size + 1), '--report', 'json']).stdout) as ForensicReport;
    expect(report).toMatchObject({ ok: true, requestedFrom: size + 1, base: { from: 'snapshot', file: path.join('snapshots', newest), size } });
    const md = cli(['--data', data, 'forensic', '--from', String(size + 1)]).stdout;
    expect(md).toContain(`- base: trusted snapshot \`${path.join('snapshots', newest)}\` (size ${size}`);
  });

  it('altered vault bytes: exit 1, STELE_E_DIVERGENCE naming the bundle, in both report shapes', () => {
    const dir = copy('bundle-altered');
    const { hash, file } = someBundle(dir);
    fs.appendFileSync(file, 'tampered');
    const json = cli(['--data', dir, 'forensic', '--report', 'json']);
    expect(json.status).toBe(1);
    const report = JSON.parse(json.stdout) as ForensicReport;
    expect(report.ok).toBe(false);
    expect(report.error).toMatchObject({ code: 'STELE_E_DIVERGENCE', where: { file: path.join('vault', hash.slice(0, 2), hash) }, detail: { kind: 'bundle', key: `bundle:${hash}` } });
    expect(report.first).toMatchObject({ kind: 'bundle', key: `bundle:${hash}`, field: 'sha256', derived: hash });
    expect(report.findings.map((f) => f.field)).toEqual(['sha256', 'size']);

    const md = cli(['--data', dir, 'forensic']);
    expect(md.status).toBe(1);
    expect(md.stdout).toContain('**Result: 2 divergences** (STELE_E_DIVERGENCE)');
    expect(md.stdout).toContain('## First divergence');
    expect(md.stdout).toContain(`- key: \`bundle:${hash}\``);

    const out = path.join(root, 'altered.md');
    const written = cli(['--data', dir, 'forensic', '--out', out]);
    expect(written.status).toBe(1);
    expect(written.stdout).toContain(`2 divergences; the first: bundle at ${path.join('vault', hash.slice(0, 2), hash)}`);
    expect(fs.readFileSync(out, 'utf8')).toContain('## First divergence');
  });

  it('usage errors exit 2; a missing directory exits 3, as JSON with --report json', () => {
    const bad = cli(['--data', data, 'forensic', '--report', 'xml']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('xml');
    expect(cli(['--data', data, 'forensic', '--from', '-1']).status).toBe(2);
    const missing = cli(['--data', path.join(root, 'nope'), 'forensic', '--report', 'json']);
    expect(missing.status).toBe(3);
    expect(JSON.parse(missing.stdout)).toMatchObject({ error: { code: 'STELE_E_DATA_DIR_MISSING' } });
  });
});

describe('stele trace', () => {
  it('lists every event that touched a key, NDJSON with --json, ending at the current value', () => {
    const accounts = jsonLines(cli(['--data', data, 'ledger', 'accounts', '--json']).stdout) as { account: string; balance: string }[];
    const account = accounts[0]!;
    const r = cli(['--data', data, 'trace', `account:${account.account}`, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const entries = jsonLines(r.stdout) as { seq: number; ts: string; type: string; value?: JsonObject; deleted?: boolean }[];
    expect(entries.length).toBeGreaterThan(1);
    expect(entries[0]).toMatchObject({ type: 'ledger.account_opened', value: { balance: '0' } });
    expect(entries.at(-1)!.value).toMatchObject({ balance: account.balance });
    for (const e of entries) expect(Object.keys(e).sort()).toEqual(['seq', 'ts', 'type', 'value']);

    const human = cli(['--data', data, 'trace', `account:${account.account}`]);
    expect(human.status).toBe(0);
    const lines = human.stdout.trim().split('\n');
    expect(lines).toHaveLength(entries.length);
    expect(lines[0]!.split('\t')).toEqual([String(entries[0]!.seq), entries[0]!.ts, 'ledger.account_opened', JSON.stringify(entries[0]!.value)]);

    const ranged = jsonLines(cli(['--data', data, 'trace', `account:${account.account}`, '--from', String(entries[1]!.seq), '--to', String(entries[1]!.seq), '--json']).stdout);
    expect(ranged).toEqual([entries[1]]);
  });

  it('a key no module owns exits 2; an untouched key says so and exits 0; a damaged log exits 1 after what it could list', () => {
    const bad = cli(['--data', data, 'trace', 'nothing-owns-this']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('STELE_E_USAGE');
    const none = cli(['--data', data, 'trace', 'kv:never-written']);
    expect(none.status).toBe(0);
    expect(none.stdout).toBe('no event touched kv:never-written\n');

    const dir = copy('chain-broken');
    const file = path.join(dir, 'events.ndjson');
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    lines[200] = lines[200]!.replace(/"prev":"[0-9a-f]{64}"/, `"prev":"${'0'.repeat(64)}"`);
    fs.writeFileSync(file, lines.join('\n'));
    const damaged = cli(['--data', dir, 'trace', 'kv:never-written', '--json']);
    expect(damaged.status).toBe(1);
    expect(damaged.stderr).toContain('STELE_E_CHAIN_BROKEN');
    const report = cli(['--data', dir, 'forensic', '--report', 'json']);
    expect(report.status).toBe(1);
    expect((JSON.parse(report.stdout) as ForensicReport).first).toMatchObject({ kind: 'chain', code: 'STELE_E_CHAIN_BROKEN', where: { seq: 200, line: 201 } });
  });
});

describe('stele explain account', () => {
  it('derives the balance event by event and ends equal to the state: exit 0', () => {
    const accounts = jsonLines(cli(['--data', data, 'ledger', 'accounts', '--json']).stdout) as { account: string; balance: string }[];
    const { account, balance } = accounts[1]!;
    const r = cli(['--data', data, 'explain', 'account', account]);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('seq\tts\ttype\tkind\tdelta\tbalance');
    expect(lines[1]!.split('\t').slice(2)).toEqual(['ledger.account_opened', 'opened', '+0', '0']);
    expect(lines.at(-4)!.split('\t').at(-1)).toBe(balance);
    expect(lines.at(-3)).toBe(`derived balance\t${balance}\t(${lines.length - 4} changes from zero)`);
    expect(lines.at(-2)).toMatch(new RegExp(`^state balance\\t${balance}\\t`));
    expect(lines.at(-1)).toBe('equal');

    const json = jsonLines(cli(['--data', data, 'explain', 'account', account, '--json']).stdout) as Record<string, unknown>[];
    expect(json.at(-1)).toMatchObject({ account, derivedBalance: balance, stateBalance: balance, ok: true, changes: json.length - 1 });
    expect(Object.keys(json[0]!).sort()).toEqual(['balance', 'delta', 'kind', 'seq', 'ts', 'type']);
  });

  it('a forged snapshot balance: exit 1 with STELE_E_DIVERGENCE; from genesis (--no-snapshot) the log agrees with itself', () => {
    const dir = copy('snapshot-forged');
    const file = snapshotFiles(dir).at(-1)!;
    const key = [...snapshotEntries(file).keys()].find((k) => k.startsWith('account:'))!;
    const value = snapshotEntries(file).get(key) as JsonObject;
    alterSnapshotEntry(file, key, { ...value, balance: String(BigInt(value['balance'] as string) + 100n) });
    const id = key.slice('account:'.length);
    const r = cli(['--data', dir, 'explain', 'account', id]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('[STELE_E_DIVERGENCE]');
    const json = jsonLines(cli(['--data', dir, 'explain', 'account', id, '--json']).stdout) as Record<string, unknown>[];
    expect(json.at(-1)).toMatchObject({ ok: false, error: { code: 'STELE_E_DIVERGENCE' } });
    expect(cli(['--data', dir, '--no-snapshot', 'explain', 'account', id]).status).toBe(0);
    // The audit names the forged entry.
    const report = JSON.parse(cli(['--data', dir, 'forensic', '--report', 'json']).stdout) as ForensicReport;
    expect(report.first).toMatchObject({ kind: 'snapshot', key, field: 'balance', where: { file: path.join('snapshots', path.basename(file)) } });
  });

  it('an unknown account exits 2', () => {
    const r = cli(['--data', data, 'explain', 'account', 'nobody']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('STELE_E_NOT_FOUND');
    expect(r.stdout).toBe('');
    const json = cli(['--data', data, 'explain', 'account', 'nobody', '--json']);
    expect(json.status).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'STELE_E_NOT_FOUND' } });
  });
});

describe('with worker threads verifying (the built code)', () => {
  // Worker threads run the compiled verifier: import the built modules, lower the size threshold.
  const built = async <T>(file: string, name: string): Promise<T> => ((await import(path.join(repoRoot, 'dist', 'src', 'forensic', file))) as Record<string, T>)[name]!;
  const threads = [{ threads: 1 }, { threads: 2, parallelBytesMin: 0 }];
  const withoutTimes = (r: ForensicReport) => ({ ...r, ms: null, threads: null });

  it('forensic, trace and explain give the same answers as on one thread, from genesis and from a snapshot', async () => {
    const audit = await built<typeof ForensicAudit>('audit.js', 'forensicAudit');
    const trace = await built<typeof TraceKey>('trace.js', 'traceKey');
    const explain = await built<typeof ExplainAccount>('explain.js', 'explainAccount');
    const dir = copy('parallel');
    fs.appendFileSync(someBundle(dir).file, 'tampered');
    const size = Number(path.basename(snapshotFiles(dir).at(-1)!).slice(0, 16));
    for (const from of [undefined, size + 5]) {
      const [one, two] = await Promise.all(threads.map((t) => audit(dir, { ...t, ...(from === undefined ? {} : { from }) })));
      expect([one!.threads, two!.threads]).toEqual([1, 2]);
      expect(withoutTimes(two!)).toEqual(withoutTimes(one!));
      expect(one!.checked.events).toBe(one!.log.size);
    }
    const account = (jsonLines(cli(['--data', dir, 'ledger', 'accounts', '--json']).stdout)[0] as { account: string }).account;
    const [t1, t2] = await Promise.all(threads.map((t) => trace(dir, `account:${account}`, { ...t, from: size + 5 })));
    expect(t2).toEqual(t1);
    const [e1, e2] = await Promise.all(threads.map((t) => explain(dir, account, t)));
    expect(e2).toEqual(e1);
    expect(e1!.ok).toBe(true);
  });
});
