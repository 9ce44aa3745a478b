/**
 * Issue #3 from the command line: commands through deciders, state reads, bundles,
 * snapshots, and an independent checker (Python, no stele code) that recomputes the state
 * root from `stele state dump`, re-derives every balance from the log with its own reducer
 * and compares every snapshot with its own replay.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, jsonLines, repoRoot, tempDir } from '../helpers.js';

let root: string;
let data: string;
const run = (args: string[], input?: string) => cli(['--data', data, ...args], input === undefined ? {} : { input });

beforeAll(() => {
  root = tempDir();
  data = path.join(root, 'data');
  expect(cli(['--data', data, 'init']).status).toBe(0);
});

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

function size(): number {
  return (JSON.parse(run(['status', '--json']).stdout) as { size: number }).size;
}

describe('stele cmd, state reads, bundles and snapshots', () => {
  it('cmd runs a command and prints its result and acks', () => {
    const r = run(['cmd', 'ledger.open', '{"account":"alice"}']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, cmd: 'ledger.open', result: { account: 'alice' }, acks: [{ seq: 0 }] });
  });

  it('a guard rejection prints its code and reason, exits 2, and is recorded in the log', () => {
    const before = size();
    const r = run(['cmd', 'ledger.withdraw', '{"id":"w1","account":"alice","amount":"5"}']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('STELE_E_REJECTED');
    expect(r.stderr).toContain('LEDGER_INSUFFICIENT_FUNDS');
    const json = run(['cmd', 'ledger.withdraw', '{"id":"w2","account":"alice","amount":"5"}', '--json']);
    expect(json.status).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'STELE_E_REJECTED', detail: { reason: 'LEDGER_INSUFFICIENT_FUNDS', recorded: true } } });
    const events = jsonLines(run(['log', '--json', '--type', 'audit.command_rejected']).stdout) as { data: { reason: string; cmd: string } }[];
    expect(events.map((e) => [e.data.cmd, e.data.reason])).toEqual([
      ['ledger.withdraw', 'LEDGER_INSUFFICIENT_FUNDS'],
      ['ledger.withdraw', 'LEDGER_INSUFFICIENT_FUNDS'],
    ]);
    // Each invocation wrote its decision record and a shutdown checkpoint.
    expect(size()).toBe(before + 4);
  });

  it('malformed commands get a typed error and write nothing', () => {
    const before = size();
    const cases: [string[], string][] = [
      [['cmd', 'ledger.deposit', '{"id":"d","account":"alice","amount":"01"}'], 'STELE_E_SCHEMA'],
      [['cmd', 'ledger.deposit', '{"id":"d","account":"alice","amount":"340282366920938463463374607431768211456"}'], 'STELE_E_SCHEMA'],
      [['cmd', 'ledger.deposit', '{"id":"d","account":"alice","amount":"1","extra":1}'], 'STELE_E_SCHEMA'],
      [['cmd', 'ledger.fly', '{}'], 'STELE_E_UNKNOWN_COMMAND'],
      [['cmd', 'kv.put', '{"key":"a","key":"b","value":1}'], 'STELE_E_JSON_DUPLICATE_KEY'],
      [['cmd', 'kv.put', '{"key":"a",'], 'STELE_E_JSON_INVALID'],
      [['append', 'ledger.deposited', '{"id":"x","account":"alice","amount":"5"}'], 'STELE_E_NOT_DIRECT'],
      [['append', 'stele.checkpoint', '{}'], 'STELE_E_RESERVED_TYPE'],
    ];
    for (const [args, code] of cases) {
      const r = run(args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(code);
    }
    expect(size()).toBe(before);
  });

  it('cmd --stdin decides each line in order, one result per line, goes on after a rejection, exits 2', () => {
    const input = [
      '{"cmd":"ledger.open","data":{"account":"bob"}}',
      '{"cmd":"ledger.deposit","data":{"id":"d1","account":"alice","amount":"1000"}}',
      '{"cmd":"ledger.transfer","data":{"id":"t1","from":"alice","to":"bob","amount":"400","memo":"rent"}}',
      '{"cmd":"ledger.transfer","data":{"id":"t2","from":"bob","to":"alice","amount":"401"}}',
      'not json',
      '',
      '{"cmd":"ledger.transfer","data":{"id":"t1","from":"alice","to":"bob","amount":"400","memo":"rent"}}',
      '{"cmd":"ledger.transfer","data":{"id":"t1","from":"alice","to":"bob","amount":"1"}}',
      '{"cmd":"kv.put","data":{"key":"greeting","value":{"text":"hello","n":1}}}',
      '{"cmd":"audit.execution","data":{"txId":"x1","intent":"transfer","status":"succeeded","elapsedMs":12}}',
      '{"cmd":"audit.attack","data":{"type":"sql-injection","layer":"policy","severity":0.9,"snippet":"1; DROP TABLE"}}',
      '{"cmd":"audit.telemetry","data":{"metric":"latency_ms","value":42}}',
    ].join('\n');
    const r = run(['cmd', '--stdin'], input);
    expect(r.status).toBe(2);
    const results = jsonLines(r.stdout) as { line: number; ok: boolean; result?: unknown; acks?: unknown[]; error?: { code: string; detail?: { reason?: string } } }[];
    expect(results.map((x) => x.line)).toEqual([1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]);
    expect(results.map((x) => x.ok)).toEqual([true, true, true, false, false, true, false, true, true, true, true]);
    expect(results[3]!.error).toMatchObject({ code: 'STELE_E_REJECTED', detail: { reason: 'LEDGER_INSUFFICIENT_FUNDS' } });
    expect(results[4]!.error?.code).toBe('STELE_E_JSON_INVALID');
    // The retried t1 is a no-op returning the first result; a different body is a conflict.
    expect(results[5]!.result).toEqual(results[2]!.result);
    expect(results[5]!.acks).toEqual([]);
    expect(results[6]!.error?.detail?.reason).toBe('LEDGER_ID_CONFLICT');
  });

  it('ledger balance and accounts, state get (with proof), state dump and stats', () => {
    expect(run(['ledger', 'balance', 'alice']).stdout.trim()).toBe('600');
    expect(JSON.parse(run(['ledger', 'balance', 'bob', '--json']).stdout)).toMatchObject({ account: 'bob', balance: '400' });
    expect(run(['ledger', 'accounts']).stdout).toBe('alice\t600\nbob\t400\n');
    expect(run(['ledger', 'balance', 'carol']).status).toBe(2);
    expect(JSON.parse(run(['state', 'get', 'kv:greeting', '--json']).stdout)).toMatchObject({ key: 'kv:greeting', value: { text: 'hello', n: 1 } });
    const status = JSON.parse(run(['status', '--json']).stdout) as { stateRoot: string; integrity: string; modules: Record<string, unknown>; replay: { ms: { total: number } } };
    expect(status.integrity).toBe('ok');
    expect(Object.keys(status.modules)).toEqual(['kv', 'ledger', 'vault', 'audit']);
    expect(status.replay.ms.total).toBeGreaterThanOrEqual(0);
    const proofFile = path.join(root, 'proof.json');
    fs.writeFileSync(proofFile, run(['state', 'get', 'kv:greeting', '--proof', '--json']).stdout);
    const proof = JSON.parse(fs.readFileSync(proofFile, 'utf8')) as { stateRoot: string };
    expect(proof.stateRoot).toBe(status.stateRoot);
    // Offline: the proof checks with nothing but the file; any altered value fails.
    const ok = cli(['check-proof', proofFile]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('kv:greeting has the value');
    const altered = JSON.parse(fs.readFileSync(proofFile, 'utf8')) as { value: { n: number } };
    altered.value.n = 2;
    fs.writeFileSync(proofFile, JSON.stringify(altered));
    const bad = cli(['check-proof', proofFile]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('STELE_E_PROOF_INVALID');
    const absentText = run(['state', 'get', 'kv:nope', '--proof', '--json']).stdout;
    const absent = JSON.parse(absentText) as { value?: unknown; end?: unknown };
    expect(absent.value).toBeUndefined();
    expect(absent.end).toBeDefined();
    fs.writeFileSync(proofFile, absentText);
    expect(cli(['check-proof', proofFile]).stdout).toContain('kv:nope is absent');
    const dump = jsonLines(run(['state', 'dump']).stdout) as [string, unknown][];
    expect(dump.map(([k]) => k)).toEqual([...dump.map(([k]) => k)].sort());
    expect(dump.find(([k]) => k === 'account:alice')![1]).toMatchObject({ balance: '600' });
    const stats = JSON.parse(run(['stats', '--json']).stdout) as Record<string, unknown>;
    expect(JSON.stringify(stats)).toContain('sql-injection');
  });

  it('bundle put stores bytes once, get re-hashes, verify detects tampering', () => {
    const file = path.join(root, 'report.txt');
    fs.writeFileSync(file, 'the quarterly report\n');
    const put = run(['bundle', 'put', file, '--media-type', 'text/plain']);
    expect(put.status, put.stderr).toBe(0);
    const out = JSON.parse(put.stdout) as { sha256: string; size: number; stored: boolean };
    expect(out).toMatchObject({ size: 21, stored: true });
    const again = JSON.parse(run(['bundle', 'put', file]).stdout) as { stored: boolean; acks: unknown[] };
    expect(again).toMatchObject({ stored: false, acks: [] });
    expect(run(['bundle', 'get', out.sha256]).stdout).toBe('the quarterly report\n');
    expect(run(['bundle', 'verify', out.sha256]).status).toBe(0);
    expect(JSON.parse(run(['state', 'get', `bundle:${out.sha256}`, '--json']).stdout)).toMatchObject({ value: { size: 21, mediaType: 'text/plain' } });
    const stored = path.join(data, 'vault', out.sha256.slice(0, 2), out.sha256);
    fs.chmodSync(stored, 0o644);
    fs.writeFileSync(stored, 'the quarterly report, altered\n');
    const bad = run(['bundle', 'get', out.sha256]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('STELE_E_BUNDLE_CORRUPT');
    expect(run(['bundle', 'verify', '--all']).status).toBe(1);
    expect(run(['bundle', 'get', '../../etc/passwd']).status).toBe(2);
    fs.writeFileSync(stored, 'the quarterly report\n');
  });

  it('snapshot create, list and verify; status replays from the snapshot; --no-snapshot from genesis', () => {
    const created = JSON.parse(run(['snapshot', 'create', '--json']).stdout) as { file: string; size: number; stateRoot: string };
    expect(created.size).toBe(size());
    const again = JSON.parse(run(['snapshot', 'create', '--json']).stdout) as { file: string };
    expect(again.file).toBe(created.file);
    run(['cmd', 'kv.put', '{"key":"after","value":1}']);
    const list = jsonLines(run(['snapshot', 'list', '--json']).stdout) as { size: number; header: { stateRoot: string } }[];
    expect(list.map((l) => l.size)).toEqual([created.size]);
    const verify = run(['snapshot', 'verify']);
    expect(verify.status, verify.stdout + verify.stderr).toBe(0);
    const fromSnapshot = JSON.parse(run(['status', '--json']).stdout) as { stateRoot: string; replay: { snapshot: { size: number } | null } };
    const fromGenesis = JSON.parse(run(['--no-snapshot', 'status', '--json']).stdout) as { stateRoot: string; replay: { snapshot: unknown } };
    expect(fromSnapshot.replay.snapshot?.size).toBe(created.size);
    expect(fromGenesis.replay.snapshot).toBeNull();
    expect(fromSnapshot.stateRoot).toBe(fromGenesis.stateRoot);
  });

  it('verify recomputes every checkpoint from genesis', () => {
    const r = run(['verify', '--json']);
    expect(r.status, r.stdout).toBe(0);
    const report = JSON.parse(r.stdout) as { ok: boolean; checkpoints: { stateRootsChecked: number }; stateRoot: string };
    expect(report.ok).toBe(true);
    expect(report.checkpoints.stateRootsChecked).toBeGreaterThan(5);
  });

  it('an independent checker (Python) agrees: state root from the dump, balances from the log, snapshots', () => {
    const dumpFile = path.join(root, 'dump.ndjson');
    fs.writeFileSync(dumpFile, run(['state', 'dump']).stdout);
    const independent = JSON.parse(execFileSync('python3', [path.join(repoRoot, 'test', 'e2e', 'fixtures', 'independent_state.py'), data, dumpFile], { encoding: 'utf8' })) as {
      stateRoot: string;
      balances: Record<string, string>;
      snapshots: { ok: boolean }[];
    };
    const status = JSON.parse(run(['status', '--json']).stdout) as { stateRoot: string };
    expect(independent.stateRoot).toBe(status.stateRoot);
    expect(independent.balances).toEqual({ alice: '600', bob: '400' });
    expect(independent.snapshots.length).toBeGreaterThan(0);
  });
});
