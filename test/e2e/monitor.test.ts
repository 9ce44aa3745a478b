/**
 * `stele monitor` end to end (issue #5): the built CLI watching logs written by the Engine,
 * one look at a time (`--once`, so no test waits on a clock).
 *
 * - `--data`: the first look records the newest checkpoint (trust on first use), more events
 *   advance it; then, against the remembered state, (a) a history regenerated from an earlier
 *   point with a different event (a fresh directory fed the same first events, then others,
 *   signed with the operator's own key) is `rewritten`, (b) the log and its tree file cut back
 *   is `truncated`, (c) a checkpoint with an altered signature is `bad-signature`: each exits 1
 *   with a pino error line naming the code and leaves the state file byte for byte as it was.
 *   It runs on a copy it cannot write, and changes nothing there.
 * - `--url`: against a real `stele serve` (signing): `GET /v1/checkpoints/latest`, the honest
 *   path (first, advanced), a rewritten history served after a restart (exit 1), a stopped
 *   service (unreachable, exit 3), and the polling loop stopped by SIGTERM.
 * - Usage: exactly one source, a state file, an interval in range (exit 2).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadSigningKey } from '../../src/crypto/keys.js';
import type { SigningKey } from '../../src/crypto/keys.js';
import { storedHashCount } from '../../src/merkle/log-tree.js';
import type { PollReport } from '../../src/monitor/monitor.js';
import { Engine } from '../../src/runtime/engine.js';
import { cli, cliPath, newDataDir, tempDir } from '../helpers.js';
import { command, fingerprint, request, sha256Hex, startCli, startServe, stopAll } from './service.js';

let root: string;
let secret: string;
let publicFile: string;
let signingKey: SigningKey;

beforeAll(() => {
  root = tempDir('stele-monitor-e2e-');
  secret = path.join(root, 'writer.key');
  const r = cli(['keygen', '--out', secret, '--json']);
  if (r.status !== 0) throw new Error(r.stderr);
  publicFile = `${secret}.pub`;
  signingKey = loadSigningKey(secret);
});

afterEach(async () => {
  await stopAll();
});

afterAll(() => {
  if (root !== undefined) {
    execFileSync('chmod', ['-R', 'u+w', root]);
    fs.rmSync(root, { recursive: true, force: true });
  }
});

let counter = 0;
/** Appends `count` kv.put events through the Engine: a checkpoint every 5 events and one on close, signed. */
async function write(dir: string, count: number, tag = 'v'): Promise<void> {
  const engine = await Engine.open(dir, { checkpointEvery: 5, signingKey });
  try {
    for (let i = 0; i < count; i++) await engine.run({ cmd: 'kv.put', data: { key: `k${counter++}`, value: tag } });
  } finally {
    await engine.close();
  }
}

function logLines(dir: string): string[] {
  return fs.readFileSync(path.join(dir, 'events.ndjson'), 'utf8').split('\n').slice(0, -1);
}

let states = 0;
function stateFile(): string {
  return path.join(root, `state-${states++}.json`);
}

interface Look {
  status: number | null;
  report: PollReport;
  stderr: string;
}

/** `stele monitor ... --once --json` and its one report. */
function look(args: string[], env: NodeJS.ProcessEnv = {}): Look {
  const r = cli(['monitor', '--once', '--json', ...args], { env });
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  if (line === undefined) throw new Error(`no report (exit ${r.status}); stderr:\n${r.stderr}`);
  return { status: r.status, report: JSON.parse(line) as PollReport, stderr: r.stderr };
}

/** The pino lines of level ≥ error in a process's stderr. */
function errorLines(stderr: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => (l['level'] as number) >= 50);
}

function copyDir(from: string): string {
  const to = path.join(root, `copy-${states++}`);
  fs.cpSync(from, to, { recursive: true });
  return to;
}

describe('stele monitor --data', () => {
  it('records the first checkpoint, advances with the log, and alarms on a rewrite, a truncation and a bad signature without advancing', async () => {
    const a = newDataDir();
    await write(a, 7);
    const state = stateFile();
    const pin = ['--pubkey', publicFile];

    const first = look(['--data', a, '--state', state, ...pin]);
    expect(first.status, first.stderr).toBe(0);
    expect(first.report).toMatchObject({ verdict: 'first', outcome: 'ok', recorded: true, signature: { status: 'valid', keyId: signingKey.keyId }, found: { checkpoint: { seq: 8 }, head: { size: 9 } } });
    const human = cli(['monitor', '--data', a, '--state', state, '--once', ...pin]);
    expect(human.status).toBe(0);
    expect(human.stdout).toMatch(/^unchanged: checkpoint seq 8; log size 9 → 9, consistent; signature valid/);

    await write(a, 6);
    const advanced = look(['--data', a, '--state', state, ...pin]);
    expect(advanced.status, advanced.stderr).toBe(0);
    expect(advanced.report).toMatchObject({ verdict: 'advanced', remembered: { checkpoint: { seq: 8 } } });
    const remembered = fs.readFileSync(state);
    const headSize = (JSON.parse(remembered.toString('utf8')) as { head: { size: number } }).head.size;
    expect(headSize).toBe(logLines(a).length);

    // (a) The operator regenerates its log from event 3 with a different event, longer than
    // before, and signs the new checkpoints with its own key.
    const b = newDataDir();
    fs.writeFileSync(path.join(b, 'events.ndjson'), logLines(a).slice(0, 3).join('\n') + '\n');
    await write(b, headSize + 4, 'forged');
    expect(logLines(b).length).toBeGreaterThan(headSize);
    const rewritten = look(['--data', b, '--state', state, ...pin]);
    expect(rewritten.status).toBe(1);
    expect(rewritten.report).toMatchObject({ verdict: 'rewritten', outcome: 'alarm', recorded: false, error: { code: 'STELE_E_HISTORY_REWRITTEN' } });
    expect(errorLines(rewritten.stderr)[0]).toMatchObject({ code: 'STELE_E_HISTORY_REWRITTEN', verdict: 'rewritten', remembered: { head: { size: headSize } } });
    expect(fs.readFileSync(state)).toEqual(remembered);
    const again = cli(['monitor', '--data', b, '--state', state, '--once', ...pin]);
    expect(again.status).toBe(1);
    expect(again.stdout).toContain('ALARM rewritten');
    expect(again.stdout).toContain('[STELE_E_HISTORY_REWRITTEN]');
    expect(fs.readFileSync(state)).toEqual(remembered);

    // (b) The log cut back to 10 events, and its tree file to match.
    const c = copyDir(a);
    fs.writeFileSync(path.join(c, 'events.ndjson'), logLines(a).slice(0, 10).join('\n') + '\n');
    fs.truncateSync(path.join(c, 'index', 'tree.hashes'), storedHashCount(10) * 32);
    const truncated = look(['--data', c, '--state', state, ...pin]);
    expect(truncated.status).toBe(1);
    expect(truncated.report).toMatchObject({ verdict: 'truncated', error: { code: 'STELE_E_TRUNCATED' }, found: { head: { size: 10 } } });
    expect(errorLines(truncated.stderr)[0]).toMatchObject({ code: 'STELE_E_TRUNCATED' });
    expect(fs.readFileSync(state)).toEqual(remembered);

    // (c) More events, then the newest checkpoint's signature altered.
    const d = copyDir(a);
    await write(d, 5);
    const lines = logLines(d);
    const last = lines.at(-1)!;
    expect(last).toContain('"type":"stele.checkpoint"');
    lines[lines.length - 1] = last.replace(/"sig":"(.)/, (_m, c: string) => `"sig":"${c === '0' ? '1' : '0'}`);
    fs.writeFileSync(path.join(d, 'events.ndjson'), lines.join('\n') + '\n');
    const forged = look(['--data', d, '--state', state, ...pin]);
    expect(forged.status).toBe(1);
    expect(forged.report).toMatchObject({ verdict: 'bad-signature', error: { code: 'STELE_E_SIGNATURE_INVALID' }, signature: { status: 'invalid' } });
    expect(errorLines(forged.stderr)[0]).toMatchObject({ code: 'STELE_E_SIGNATURE_INVALID' });
    expect(fs.readFileSync(state)).toEqual(remembered);

    // The honest log still advances from the same state: the alarms changed nothing.
    expect(look(['--data', a, '--state', state, ...pin]).report.verdict).toBe('unchanged');
  });

  it('runs on a copy it cannot write (chmod a-w, as an unprivileged user) and changes nothing there', async () => {
    const a = newDataDir();
    await write(a, 6);
    const copy = copyDir(a);
    execFileSync('chmod', ['-R', 'a-w,a+rX', copy]);
    // The temporary root is 0700 (mkdtemp): let another user reach the copy and write the state.
    const stateDir = path.join(root, `state-dir-${states++}`);
    fs.mkdirSync(stateDir, { mode: 0o777 });
    fs.chmodSync(stateDir, 0o777);
    fs.chmodSync(root, 0o755);
    const before = fingerprint(copy);
    // Root ignores permission bits: run the monitor as `nobody`, whom they do bind.
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const probe = spawnSync(process.execPath, ['-e', `require('fs').appendFileSync(${JSON.stringify(path.join(copy, 'events.ndjson'))}, 'x')`], { ...asNobody, encoding: 'utf8' });
    expect(probe.stderr).toContain('EACCES');
    const r = spawnSync(process.execPath, [cliPath, 'monitor', '--data', copy, '--state', path.join(stateDir, 'state.json'), '--once', '--json', '--pubkey', publicFile], {
      ...asNobody,
      encoding: 'utf8',
      env: { ...process.env, STELE_LOG_LEVEL: 'warn' },
    });
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as PollReport).verdict).toBe('first');
    expect(fingerprint(copy)).toEqual(before);
  });

  it('refuses a usage error with exit 2: no source, two sources, no state file, an interval out of range, a missing state directory', () => {
    const a = newDataDir();
    const state = stateFile();
    for (const args of [
      ['monitor', '--state', state, '--once'],
      ['monitor', '--data', a, '--url', 'http://127.0.0.1:1', '--state', state, '--once'],
      ['monitor', '--data', a, '--once'],
      ['monitor', '--data', a, '--state', state, '--interval', '0'],
      ['monitor', '--data', a, '--state', state, '--interval', '86401'],
      ['monitor', '--data', a, '--state', path.join(root, 'no-such-dir', 'state.json'), '--once'],
      ['monitor', '--url', 'ftp://example.org', '--state', state, '--once'],
    ]) {
      const r = cli(args);
      expect(r.status, `${args.join(' ')}\n${r.stderr}`).toBe(2);
    }
    expect(cli(['monitor', '--state', state, '--once']).stderr).toContain('needs a source: --url URL');
    expect(fs.existsSync(state)).toBe(false);
  });
});

describe('stele monitor --url', () => {
  it('serves the newest checkpoint, follows an honest service, alarms on a rewritten one, and says unreachable when it is down', async () => {
    const dir = newDataDir();
    const signing = ['--signing-key', secret, '--checkpoint-every', '5'];
    let service = await startServe(dir, signing);
    for (let i = 0; i < 7; i++) expect((await command(service.url, { cmd: 'kv.put', data: { key: `u${i}`, value: i } })).status).toBe(200);

    const latest = await request<{ checkpoint: { seq: number; hash: string; line: string; data: { keyId: string } }; log: { size: number; logRoot: string }; publicKey: { keyId: string } }>(service.url, '/v1/checkpoints/latest');
    expect(latest.status).toBe(200);
    expect(latest.json.checkpoint.seq).toBe(5);
    expect(latest.json.checkpoint.hash).toBe(sha256Hex(latest.json.checkpoint.line));
    expect(latest.json.checkpoint.data.keyId).toBe(signingKey.keyId);
    expect(latest.json.publicKey.keyId).toBe(signingKey.keyId);
    const status = await request<{ size: number; logRoot: string }>(service.url, '/v1/status');
    expect(latest.json.log).toEqual({ size: status.json.size, logRoot: status.json.logRoot });

    const state = stateFile();
    const pin = ['--pubkey', publicFile];
    const first = look(['--url', service.url, '--state', state, ...pin]);
    expect(first.status, first.stderr).toBe(0);
    expect(first.report).toMatchObject({ verdict: 'first', source: service.url, found: { checkpoint: { seq: 5 }, head: { size: 8 } } });
    for (let i = 7; i < 13; i++) await command(service.url, { cmd: 'kv.put', data: { key: `u${i}`, value: i } });
    const advanced = look(['--url', service.url, '--state', state, ...pin]);
    expect(advanced.status, advanced.stderr).toBe(0);
    expect(advanced.report).toMatchObject({ verdict: 'advanced', found: { checkpoint: { seq: 11 } } });

    // The loop: one report per look on stdout; SIGTERM stops it between looks with the last look's code.
    const loop = await startCli(['monitor', '--url', service.url, '--state', state, '--interval', '1', '--json', ...pin]);
    expect(loop.ready).toMatchObject({ verdict: 'unchanged', outcome: 'ok' });
    expect(await loop.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    const remembered = fs.readFileSync(state, 'utf8');

    // The operator restarts its service on a history regenerated from event 4.
    expect(await service.stop()).toEqual({ code: 0, signal: null });
    const down = look(['--url', service.url, '--state', state, ...pin]);
    expect(down.status).toBe(3);
    expect(down.report).toMatchObject({ verdict: 'unreachable', outcome: 'unreachable', error: { code: 'STELE_E_IO' } });
    expect(errorLines(down.stderr)).toEqual([]);
    expect(fs.readFileSync(state, 'utf8')).toBe(remembered);

    const forgedDir = newDataDir();
    fs.writeFileSync(path.join(forgedDir, 'events.ndjson'), logLines(dir).slice(0, 4).join('\n') + '\n');
    await write(forgedDir, 20, 'forged');
    service = await startServe(forgedDir, signing);
    const rewritten = look(['--url', service.url, '--state', state, ...pin]);
    expect(rewritten.status).toBe(1);
    expect(rewritten.report).toMatchObject({ verdict: 'rewritten', outcome: 'alarm', error: { code: 'STELE_E_HISTORY_REWRITTEN' } });
    expect(errorLines(rewritten.stderr)[0]).toMatchObject({ code: 'STELE_E_HISTORY_REWRITTEN' });
    expect(fs.readFileSync(state, 'utf8')).toBe(remembered);
  });
});
