/** The `stele` CLI end to end: what a user types, what they see, and the exit codes. */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWriter } from '../../src/log/open.js';
import { cli, jsonLines, tempDir } from '../helpers.js';

let root: string;
let data: string;

beforeAll(() => {
  root = tempDir();
  data = path.join(root, 'data');
});

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

describe('stele CLI', () => {
  it('init creates the data directory and is idempotent', () => {
    const first = cli(['--data', data, 'init', '--json']);
    expect(first.status).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ created: true });
    expect(fs.existsSync(path.join(data, 'events.ndjson'))).toBe(true);
    const again = cli(['--data', data, 'init', '--json']);
    expect(again.status).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ created: false });
  });

  it('appends from arguments and prints the ack as NDJSON', () => {
    const r = cli(['--data', data, 'append', 'kv.put', '{"key":"greeting","value":"hello"}', '--meta', '{"actor":"cli-test"}']);
    expect(r.status, r.stderr).toBe(0);
    const [ack] = jsonLines(r.stdout) as { seq: number; hash: string; size: number; logRoot: string }[];
    expect(ack).toMatchObject({ seq: 0, size: 1 });
    expect(ack!.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(ack!.logRoot).toMatch(/^[0-9a-f]{64}$/);
  });

  it('appends NDJSON from stdin, one ack per event', () => {
    const input = ['{"type":"kv.put","data":{"key":"a","value":1}}', '', '{"type":"kv.put","v":1,"data":{"key":"b","value":[1,2]},"meta":{"req":"x"}}', '{"type":"kv.delete","data":{"key":"a"}}'].join('\n') + '\n';
    const r = cli(['--data', data, 'append', '--stdin'], { input });
    expect(r.status, r.stderr).toBe(0);
    // seq 1 is the checkpoint the previous invocation wrote on its clean shutdown.
    expect((jsonLines(r.stdout) as { seq: number }[]).map((a) => a.seq)).toEqual([2, 3, 4]);
  });

  it('rejects a stdin batch with an invalid line, naming the line, and writes nothing', () => {
    const before = cli(['--data', data, 'status', '--json']);
    const input = '{"type":"kv.put","data":{"key":"ok","value":1}}\n{"type":"kv.put","data":{"key":"","value":1}}\n';
    const r = cli(['--data', data, 'append', '--stdin'], { input });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('STELE_E_SCHEMA');
    expect(r.stderr).toContain('input line 2');
    const dup = cli(['--data', data, 'append', '--stdin'], { input: '{"type":"kv.put","data":{"key":"ok","value":1}}\n{"type":"kv.put","data":{"key":"x","key":"y","value":1}}\n' });
    expect(dup.status).toBe(2);
    expect(dup.stderr).toContain('STELE_E_JSON_DUPLICATE_KEY');
    expect(dup.stderr).toContain('input line 2');
    const after = cli(['--data', data, 'status', '--json']);
    const pick = (text: string) => {
      const s = JSON.parse(text) as { size: number; logRoot: string; stateRoot: string; headHash: string };
      return [s.size, s.logRoot, s.stateRoot, s.headHash];
    };
    expect(pick(after.stdout)).toEqual(pick(before.stdout));
  });

  it('rejects bad arguments with exit 2 and a typed error', () => {
    expect(cli(['--data', data, 'append', 'kv.put', '{"key":"a","key":"b","value":1}']).stderr).toContain('STELE_E_JSON_DUPLICATE_KEY');
    const unknown = cli(['--data', data, 'append', 'no.such', '{}', '--json']);
    expect(unknown.status).toBe(2);
    expect(JSON.parse(unknown.stdout).error.code).toBe('STELE_E_UNKNOWN_TYPE');
    expect(cli(['--data', data, 'append', 'stele.recovered', '{}']).status).toBe(2);
    expect(cli(['--data', data, 'append', 'kv.put']).status).toBe(2);
    expect(cli(['--data', data, 'frobnicate']).status).toBe(2);
    expect(cli(['--data', data, 'prove', 'abc']).status).toBe(2);
  });

  it('status, verify and log agree', () => {
    const status = JSON.parse(cli(['--data', data, 'status', '--json']).stdout);
    expect(status).toMatchObject({ size: 6 });
    const verify = cli(['--data', data, 'verify', '--json']);
    expect(verify.status).toBe(0);
    const report = JSON.parse(verify.stdout);
    expect(report).toMatchObject({ ok: true, size: 6, stateRoot: status.stateRoot, logRoot: status.logRoot, headHash: status.headHash, treeFile: 'ok' });
    const events = jsonLines(cli(['--data', data, 'log', '--json']).stdout) as { seq: number; hash: string; type: string }[];
    expect(events.map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(events.map((e) => e.type)).toEqual(['kv.put', 'stele.checkpoint', 'kv.put', 'kv.put', 'kv.delete', 'stele.checkpoint']);
    expect(events[5]!.hash).toBe(status.headHash);
    const deletes = jsonLines(cli(['--data', data, 'log', '--json', '--type', 'kv.delete']).stdout) as { seq: number }[];
    expect(deletes.map((e) => e.seq)).toEqual([4]);
    const page = jsonLines(cli(['--data', data, 'log', '--json', '--from', '1', '--limit', '2']).stdout) as { seq: number }[];
    expect(page.map((e) => e.seq)).toEqual([1, 2]);
  });

  it('proves inclusion and consistency; check-proof verifies offline and catches an altered proof', () => {
    const proof = cli(['--data', data, 'prove', '1', '--size', '3', '--json']);
    expect(proof.status, proof.stderr).toBe(0);
    const p = JSON.parse(proof.stdout);
    expect(p).toMatchObject({ seq: 1, size: 3 });
    const file = path.join(root, 'proof.json');
    fs.writeFileSync(file, proof.stdout);
    const elsewhere = tempDir();
    const ok = cli(['--data', path.join(elsewhere, 'none'), 'check-proof', file]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('ok');
    p.eventHash = p.eventHash.replace(/^./, (c: string) => (c === '0' ? '1' : '0'));
    fs.writeFileSync(file, JSON.stringify(p));
    const bad = cli(['check-proof', file]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('STELE_E_PROOF_INVALID');

    const cons = cli(['--data', data, 'consistency', '2', '4', '--json']);
    expect(cons.status, cons.stderr).toBe(0);
    expect(JSON.parse(cons.stdout)).toMatchObject({ size1: 2, size2: 4 });
    fs.writeFileSync(file, cons.stdout);
    expect(cli(['check-proof', file]).status).toBe(0);
    fs.writeFileSync(file, '{"seq":1}');
    expect(cli(['check-proof', file]).status).toBe(2);
    expect(cli(['--data', data, 'prove', '9', '--json']).status).toBe(2);
  });

  it('refuses a second writer with LOCKED naming the holder pid (exit 3)', async () => {
    const opened = await openWriter(data);
    try {
      const r = cli(['--data', data, 'append', 'kv.put', '{"key":"x","value":1}']);
      expect(r.status).toBe(3);
      expect(r.stderr).toContain('STELE_E_LOCKED');
      expect(r.stderr).toContain(`pid ${process.pid}`);
      // Read-only commands still work beside the writer.
      expect(cli(['--data', data, 'verify']).status).toBe(0);
    } finally {
      await opened.close();
    }
  });

  it('a missing data directory is exit 3 with the command that fixes it', () => {
    const missing = path.join(root, 'nope');
    const r = cli(['--data', missing, 'append', 'kv.put', '{"key":"x","value":1}']);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('STELE_E_DATA_DIR_MISSING');
    expect(r.stderr).toContain('stele init');
    expect(cli(['--data', missing, 'status']).status).toBe(3);
  });

  it('an unwritable data directory is exit 3 for writers; reads still work', () => {
    const dir = path.join(tempDir(), 'ro');
    expect(cli(['--data', dir, 'init']).status).toBe(0);
    expect(cli(['--data', dir, 'append', 'kv.put', '{"key":"x","value":1}']).status).toBe(0);
    const size = fs.statSync(path.join(dir, 'events.ndjson')).size;
    // As root, permissions do not bind: run the CLI as nobody against a root-owned directory.
    const asNobody = process.getuid?.() === 0;
    fs.chmodSync(path.dirname(dir), 0o755);
    if (!asNobody) fs.chmodSync(dir, 0o555);
    const env = asNobody ? { uid: 65534 } : {};
    const r = cliAs(['--data', dir, 'append', 'kv.put', '{"key":"y","value":1}'], env);
    expect(r.status, r.stderr).toBe(3);
    expect(r.stderr).toContain('STELE_E_DATA_DIR_UNWRITABLE');
    expect(fs.statSync(path.join(dir, 'events.ndjson')).size).toBe(size);
    expect(cliAs(['--data', dir, 'verify'], env).status).toBe(0);
    if (!asNobody) fs.chmodSync(dir, 0o755);
  });

  it('verify locates a damaged line (exit 1) and the writer refuses to open (exit 3)', () => {
    const dir = path.join(tempDir(), 'bad');
    cli(['--data', dir, 'init']);
    cli(['--data', dir, 'append', '--stdin'], { input: Array.from({ length: 5 }, (_, i) => `{"type":"kv.put","data":{"key":"k${i}","value":${i}}}`).join('\n') });
    const file = path.join(dir, 'events.ndjson');
    const text = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, text.replace('"value":2', '"value":7'));
    const r = cli(['--data', dir, 'verify', '--json']);
    expect(r.status).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ ok: false, size: 3, fault: { code: 'STELE_E_CHAIN_BROKEN', line: 4, seq: 3 } });
    const human = cli(['--data', dir, 'verify']);
    expect(human.stderr).toContain('line 4');
    const w = cli(['--data', dir, 'append', 'kv.put', '{"key":"x","value":1}']);
    expect(w.status).toBe(3);
    expect(w.stderr).toContain('STELE_E_PANIC');
    expect(fs.readFileSync(file, 'utf8')).toBe(text.replace('"value":2', '"value":7'));
  });

  it('a torn last line is moved to quarantine and recorded by a stele.recovered event', () => {
    const dir = path.join(tempDir(), 'torn');
    cli(['--data', dir, 'init']);
    cli(['--data', dir, 'append', 'kv.put', '{"key":"a","value":1}']);
    const file = path.join(dir, 'events.ndjson');
    const torn = '{"data":{"key":"b","val';
    fs.appendFileSync(file, torn);
    const verify = JSON.parse(cli(['--data', dir, 'verify', '--json']).stdout);
    expect(verify).toMatchObject({ ok: true, size: 2, tornTail: { bytes: torn.length } });
    const r = cli(['--data', dir, 'append', 'kv.put', '{"key":"c","value":3}']);
    expect(r.status, r.stderr).toBe(0);
    const events = jsonLines(cli(['--data', dir, 'log', '--json']).stdout) as { type: string; data: { bytes: number; file: string; sha256: string } }[];
    expect(events.map((e) => e.type)).toEqual(['kv.put', 'stele.checkpoint', 'stele.recovered', 'kv.put', 'stele.checkpoint']);
    const rec = events[2]!.data;
    expect(rec.bytes).toBe(torn.length);
    expect(fs.readFileSync(path.join(dir, rec.file), 'utf8')).toBe(torn);
    expect(cli(['--data', dir, 'verify']).status).toBe(0);
  });
});

function cliAs(args: string[], as: { uid?: number }) {
  if (as.uid === undefined) return cli(args);
  return cliUid(args, as.uid);
}

import { spawnSync } from 'node:child_process';
import { cliPath } from '../helpers.js';
function cliUid(args: string[], uid: number) {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', uid, gid: uid, env: { ...process.env, STELE_LOG_LEVEL: 'warn' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
