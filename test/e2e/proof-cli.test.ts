/**
 * Proof bundles from the shell and over HTTP (issue #5): `stele prove event|state` on a data
 * directory written by the engine with signed checkpoints; `stele check-proof` verifying the
 * bundle with the data directory deleted (printing every check, exit 0 / 1 / 2), pinned keys,
 * unsigned logs, altered and malformed files; the old proof files still checking; and
 * `GET /v1/proofs/...` on `stele observe` and `stele serve` answering byte for byte the
 * bundles the CLI writes for the same positions.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cli, repoRoot, tempDir } from '../helpers.js';
import type { TestKey } from '../proof/fixtures.js';
import { checkpointSeqs, freshDataDir, newKey, writeWorkload } from '../proof/fixtures.js';
import { request, startObserve, startServe, stopAll, waitFor } from './service.js';

let root: string;
let key: TestKey;
let other: TestKey;
let signed: string;
let unsigned: string;

interface Verdict {
  file: string;
  valid: boolean;
  malformed: boolean;
  anchored: boolean;
  kind: string | null;
  signer: { keyId: string; pinned: boolean } | null;
  checks: { id: string; ok: boolean; label: string; detail: string }[];
  summary: string;
  error?: { code: string };
}

beforeAll(async () => {
  root = tempDir('stele-proof-cli-');
  key = newKey(root, 'writer.key');
  other = newKey(root, 'other.key');
  signed = freshDataDir(root, 'signed');
  unsigned = freshDataDir(root, 'unsigned');
  await writeWorkload(signed, { signingKey: key.signing });
  await writeWorkload(unsigned);
});

afterEach(() => stopAll());
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function ok(args: string[]): string {
  const r = cli(args);
  if (r.status !== 0) throw new Error(`stele ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** Copies `file` to a fresh directory outside any data directory and returns its new path. */
function offline(file: string): string {
  const dir = tempDir('stele-offline-');
  const copy = path.join(dir, path.basename(file));
  fs.copyFileSync(file, copy);
  return copy;
}

describe('prove and check-proof', () => {
  it('an event bundle verifies with the data directory deleted: every check printed, exit 0', () => {
    const data = path.join(root, 'doomed');
    fs.cpSync(signed, data, { recursive: true });
    const out = path.join(root, 'event5.json');
    const wrote = ok(['--data', data, 'prove', 'event', '5', '--out', out]);
    expect(wrote).toContain(`wrote ${out}: event 5, anchored to the checkpoint of size`);
    const stdout = ok(['--data', data, 'prove', 'event', '5']);
    expect(fs.readFileSync(out, 'utf8')).toBe(stdout);
    const bundle = offline(out);
    fs.rmSync(data, { recursive: true, force: true });
    const r = cli(['--data', path.join(root, 'no-such-dir'), 'check-proof', bundle]);
    expect(r.status, r.stderr).toBe(0);
    for (const label of ['canonical JSON of a stele.proof bundle', 'the line is a canonical event with seq 5', 'SHA-256 of the line is eventHash', 'the checkpoint covers event 5', "leads from the event to the checkpoint's signed root of the log of size", 'Ed25519 signature of the checkpoint', "keyId is the SHA-256 of the bundle's public key"]) {
      expect(r.stdout).toContain(label);
    }
    expect(r.stdout).not.toContain('FAIL');
    expect(r.stdout).toMatch(/^valid: event 5 \(ledger\.deposited\) is in the log, committed by the checkpoint of size \d+ signed by key [0-9a-f]{64}, carried in the bundle and not pinned/m);
    // Pinned: the same file, now trusted.
    const pinned = cli(['check-proof', bundle, '--pubkey', key.pubFile]);
    expect(pinned.status, pinned.stderr).toBe(0);
    expect(pinned.stdout).toContain('ok    the signing key is pinned');
    expect(pinned.stdout).toContain('signed by pinned key');
    // And by the bare hex key, with --json.
    const json = JSON.parse(ok(['check-proof', bundle, '--pubkey', key.pubHex, '--json'])) as Verdict;
    expect(json).toMatchObject({ valid: true, anchored: true, kind: 'event', signer: { keyId: key.pub.keyId, pinned: true } });
    expect(json.checks.every((c) => c.ok)).toBe(true);
  });

  it('standard tools check a bundle too: sha256sum of the line, openssl the signature, Python the path', () => {
    const file = path.join(root, 'independent.json');
    ok(['--data', signed, 'prove', 'event', '9', '--out', file]);
    const sh = (script: string): string => execFileSync('bash', ['-c', script, 'x', file], { encoding: 'utf8', cwd: root });
    expect(sh(`jq -j .line "$1" | sha256sum | cut -d' ' -f1`).trim()).toBe(sh(`jq -r .eventHash "$1"`).trim());
    expect(sh(`jq -r .checkpoint.publicKey "$1" | xxd -r -p | sha256sum | cut -d' ' -f1`).trim()).toBe(key.pub.keyId);
    const openssl = sh(
      `jq -cj '.checkpoint | {logRoot, size, stateRoot}' "$1" > msg.bin && jq -r .checkpoint.sig "$1" | xxd -r -p > sig.bin && ` +
        `{ printf '302a300506032b6570032100'; jq -r .checkpoint.publicKey "$1"; } | xxd -r -p > pub.der && ` +
        'openssl pkeyutl -verify -pubin -inkey pub.der -keyform DER -rawin -in msg.bin -sigfile sig.bin',
    );
    expect(openssl).toContain('Signature Verified Successfully');
    const python = (f: string): string => execFileSync('python3', [path.join(repoRoot, 'test', 'e2e', 'fixtures', 'independent_bundle.py'), f], { encoding: 'utf8' }).trim();
    expect(python(file)).toBe('ok');
    const unanchored = path.join(root, 'independent-unsigned.json');
    ok(['--data', unsigned, 'prove', 'event', '9', '--out', unanchored]);
    expect(python(unanchored)).toBe('ok');
    // One hex digit of the path changed: the independent checker refuses it too.
    const text = fs.readFileSync(file, 'utf8');
    const at = text.indexOf('"path":["') + '"path":["'.length;
    fs.writeFileSync(file, text.slice(0, at) + (text[at] === '0' ? '1' : '0') + text.slice(at + 1));
    expect(python(file)).toBe('FAIL');
  });

  it('a wrong pinned key fails (exit 1) naming the check', () => {
    const file = path.join(root, 'state-a.json');
    ok(['--data', signed, 'prove', 'state', 'kv:a', '--out', file]);
    const r = cli(['check-proof', file, '--pubkey', other.pubFile]);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('FAIL  the signing key is pinned');
    expect(r.stderr).toContain('[STELE_E_PROOF_INVALID]');
    expect(r.stderr).toContain('check pinned');
    const json = JSON.parse(cli(['check-proof', file, '--pubkey', other.pubFile, '--json']).stdout) as Verdict;
    expect(json.valid).toBe(false);
    expect(json.checks.filter((c) => !c.ok).map((c) => c.id)).toEqual(['pinned']);
  });

  it('unsigned logs: bundles without a checkpoint, valid but not anchored; with --pubkey they fail', () => {
    const file = path.join(root, 'unsigned-event.json');
    const r = cli(['--data', unsigned, 'prove', 'event', '3', '--out', file]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('stele: note: no signing key is known');
    expect(r.stdout).toContain('not anchored');
    const check = cli(['check-proof', file]);
    expect(check.status).toBe(0);
    expect(check.stdout).toMatch(/^valid, not anchored: event 3 .* against the stated root only/m);
    expect(JSON.parse(ok(['check-proof', file, '--json']))).toMatchObject({ valid: true, anchored: false, signer: null });
    const pinned = cli(['check-proof', file, '--pubkey', key.pubFile]);
    expect(pinned.status).toBe(1);
    expect(pinned.stdout).toContain('FAIL  a checkpoint signed by a pinned key commits to the entry');
    // A bare proof file carries no signature either.
    const bare = path.join(root, 'bare.json');
    fs.writeFileSync(bare, ok(['--data', signed, 'prove', '2', '--json']));
    expect(cli(['check-proof', bare]).status).toBe(0);
    const bareP = cli(['check-proof', bare, '--pubkey', key.pubFile]);
    expect(bareP.status).toBe(1);
    expect(bareP.stderr).toContain('carries no signature');
  });

  it('state bundles: present, absent, --at and --at-time; each verifies offline', () => {
    const cps = checkpointSeqs(signed);
    const present = path.join(root, 'alice.json');
    ok(['--data', signed, 'prove', 'state', 'account:alice', '--out', present]);
    expect(ok(['check-proof', offline(present)])).toMatch(/^valid: account:alice has the value \{.*"balance":"750".*\} in the state, committed by the checkpoint/m);
    const absent = ok(['--data', signed, 'prove', 'state', 'kv:nope']);
    const absentFile = path.join(root, 'nope.json');
    fs.writeFileSync(absentFile, absent);
    expect(ok(['check-proof', absentFile])).toContain('kv:nope is absent from the state');
    const early = JSON.parse(ok(['--data', signed, 'prove', 'state', 'kv:a', '--at', String(cps[0]!)])) as { checkpoint: { size: number }; proof: { value: unknown } };
    expect(early).toMatchObject({ checkpoint: { size: cps[0] }, proof: { value: 1 } });
    const summary = JSON.parse(ok(['--data', signed, 'prove', 'state', 'kv:a', '--at-time', '2999-01-01T00:00:00Z', '--out', path.join(root, 'x.json'), '--json'])) as Record<string, unknown>;
    expect(summary).toMatchObject({ kind: 'state', anchored: true, checkpoint: { keyId: key.pub.keyId, size: cps.at(-1) } });
    const both = cli(['--data', signed, 'prove', 'state', 'kv:a', '--at', '3', '--at-time', '2999-01-01T00:00:00Z']);
    expect(both.status).toBe(2);
    expect(both.stderr).toContain('STELE_E_USAGE');
  });

  it('an altered byte fails (exit 1 when it still parses, exit 2 when malformed)', () => {
    const file = path.join(root, 'event7.json');
    ok(['--data', signed, 'prove', 'event', '7', '--out', file]);
    const text = fs.readFileSync(file, 'utf8');
    // A hex digit of the inclusion path: still a well-formed bundle, the proof fails.
    const at = text.indexOf('"path":["') + '"path":["'.length;
    fs.writeFileSync(file, text.slice(0, at) + (text[at] === '0' ? '1' : '0') + text.slice(at + 1));
    const bad = cli(['check-proof', file]);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/^FAIL {2}the inclusion path \(\d+ hash(es)?\) leads from the event to the checkpoint's signed root/m);
    expect(bad.stderr).toContain('check inclusion');
    // A space inserted: not canonical, malformed.
    fs.writeFileSync(file, text.replace('{"checkpoint":', '{ "checkpoint":'));
    const malformed = cli(['check-proof', file]);
    expect(malformed.status).toBe(2);
    expect(malformed.stderr).toContain('[STELE_E_PROOF_FORMAT]');
    expect(malformed.stderr).toContain('not canonical JSON');
    const json = JSON.parse(cli(['check-proof', file, '--json']).stdout) as Verdict;
    expect(json).toMatchObject({ valid: false, malformed: true, error: { code: 'STELE_E_PROOF_FORMAT' } });
    // Truncated: not JSON at all, still reported as a bundle.
    fs.writeFileSync(file, text.slice(0, 200));
    const cut = cli(['check-proof', file]);
    expect(cut.status).toBe(2);
    expect(cut.stderr).toContain('invalid proof bundle');
    // Read from stdin.
    const stdin = cli(['check-proof', '-'], { input: text });
    expect(stdin.status).toBe(0);
  });

  it('usage errors: out-of-range positions and missing arguments exit 2', () => {
    expect(cli(['--data', signed, 'prove', 'event', '999']).status).toBe(2);
    expect(cli(['--data', signed, 'prove', 'event', 'x']).status).toBe(2);
    expect(cli(['--data', signed, 'prove']).status).toBe(2);
    const sizeOnState = cli(['--data', signed, 'prove', 'state', 'kv:a', '--size', '3']);
    expect(sizeOnState.status).toBe(2);
    expect(sizeOnState.stderr).toContain('not --size');
    const missing = cli(['--data', path.join(root, 'none'), 'prove', 'event', '0', '--json']);
    expect(missing.status).toBe(3);
    expect((JSON.parse(missing.stdout) as { error: { code: string } }).error.code).toMatch(/^STELE_E_DATA_DIR_/);
  });
});

describe('GET /v1/proofs', () => {
  it('the observer answers the bundles the CLI writes, byte for byte', async () => {
    const cps = checkpointSeqs(signed);
    const service = await startObserve(signed);
    const cases: [string, string[]][] = [
      ['/v1/proofs/event/5', ['prove', 'event', '5']],
      [`/v1/proofs/event/1?size=${cps[0]! + 1}`, ['prove', 'event', '1', '--size', String(cps[0]! + 1)]],
      ['/v1/proofs/state/kv:a', ['prove', 'state', 'kv:a']],
      [`/v1/proofs/state/kv:a?at=${cps[0]}`, ['prove', 'state', 'kv:a', '--at', String(cps[0])]],
      ['/v1/proofs/state/account:bob', ['prove', 'state', 'account:bob']],
      [`/v1/proofs/state/${encodeURIComponent('kv:no such key')}`, ['prove', 'state', 'kv:no such key']],
      ['/v1/proofs/state/kv:a?at=1', ['prove', 'state', 'kv:a', '--at', '1']],
    ];
    for (const [route, args] of cases) {
      const answer = await request(service.url, route);
      expect(answer.status, `${route}: ${answer.text}`).toBe(200);
      expect(answer.headers.get('content-type')).toContain('application/json');
      expect(answer.text, route).toBe(ok(['--data', signed, ...args]));
      expect(answer.headers.get('x-stele-anchored'), route).toBe(route.endsWith('at=1') ? 'false' : 'true');
    }
    expect((await request(service.url, '/v1/proofs/event/999')).status).toBe(404);
    const beyond = await request<{ error: { code: string } }>(service.url, '/v1/proofs/event/1?size=999');
    expect(beyond.status).toBe(400);
    expect(beyond.json.error.code).toBe('STELE_E_SIZE_OUT_OF_RANGE');
    expect((await request(service.url, '/v1/proofs/event/1?bogus=1')).status).toBe(400);
    expect((await request(service.url, '/v1/proofs/state/kv:a?at=1&atTime=2026-01-01T00:00:00Z')).status).toBe(400);
    const doc = await request<{ paths: Record<string, unknown> }>(service.url, '/v1/openapi.json');
    expect(Object.keys(doc.json.paths)).toEqual(expect.arrayContaining(['/v1/proofs/event/{seq}', '/v1/proofs/state/{key}']));
  });

  it('the writer answers them too, also for events written after it started', async () => {
    const data = path.join(root, 'served');
    fs.cpSync(signed, data, { recursive: true });
    const service = await startServe(data, ['--signing-key', key.file, '--checkpoint-every', '2']);
    const before = (await request<{ size: number }>(service.url, '/v1/status')).json.size;
    // Four puts, a signed checkpoint after every two: the last line is a checkpoint.
    for (let i = 0; i < 4; i++) {
      const r = await request(service.url, '/v1/commands', { body: { cmd: 'kv.put', data: { key: 'live', value: i } }, auth: true });
      expect(r.status, r.text).toBe(200);
    }
    const status = await waitFor('the second checkpoint', async () => {
      const s = await request<{ size: number; checkpoints: { last: { seq: number } | null } }>(service.url, '/v1/status');
      return s.json.size === before + 6 && s.json.checkpoints.last?.seq === before + 5 ? s : undefined;
    });
    const last = status.json.size - 1;
    const answer = await request(service.url, `/v1/proofs/event/${last - 1}`);
    expect(answer.status, answer.text).toBe(200);
    const file = path.join(root, 'live.json');
    fs.writeFileSync(file, answer.text);
    expect(cli(['check-proof', file, '--pubkey', key.pubFile]).status).toBe(0);
    const state = await request(service.url, '/v1/proofs/state/kv:live');
    fs.writeFileSync(file, state.text);
    const check = JSON.parse(ok(['check-proof', file, '--pubkey', key.pubFile, '--json'])) as Verdict;
    expect(check).toMatchObject({ valid: true, anchored: true });
    expect(check.summary).toContain('kv:live has the value 3');
    await service.stop();
    // After a clean shutdown the CLI writes the same bundle for that event.
    expect(ok(['--data', data, 'prove', 'event', String(last - 1), '--size', String(status.json.size)])).toBe(answer.text);
  });
});
