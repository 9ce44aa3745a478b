/**
 * Signed checkpoints from the shell (issue #5): `stele keygen`, writing commands with
 * `--signing-key` (or STELE_SIGNING_KEY_FILE), `verify` / `status` counting and checking the
 * signatures, `--pubkey` pinning, and what a user sees when a signature or a key is bad.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { canonicalize } from '../../src/canonical/json.js';
import { cli, newDataDir, tempDir, readLogLines } from '../helpers.js';
import type { LogLine } from '../helpers.js';
import { request, startServe, stopAll } from './service.js';

let root: string;
let secret: string;
let keyId: string;
let otherPub: string;



interface VerifyJson {
  ok: boolean;
  checkpoints: { signed: number; signaturesVerified: number; unknownKeyIds: string[]; pinned: { verified: number; otherSigned: number; otherKeyIds: string[] } | null };
  fault?: { code: string; line: number; seq: number; path: string };
}

beforeAll(() => {
  root = tempDir('stele-signing-');
  secret = path.join(root, 'keys', 'writer.key');
  const r = cli(['keygen', '--out', secret, '--json']);
  if (r.status !== 0) throw new Error(r.stderr);
  keyId = (JSON.parse(r.stdout) as { keyId: string }).keyId;
  const other = cli(['keygen', '--out', path.join(root, 'keys', 'auditor-other.key'), '--json']);
  otherPub = (JSON.parse(other.stdout) as { publicKeyFile: string }).publicKeyFile;
});

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** A data directory with two `cmd` sessions signed with the key: two shutdown checkpoints. */
function signedData(): string {
  const data = newDataDir();
  for (const [i, args] of [['--signing-key', secret, '--data', data, 'cmd'], ['--data', data, 'cmd']].entries()) {
    // The second session gives the option after the command name: global options go anywhere.
    const r = cli([...args, 'kv.put', JSON.stringify({ key: `k${i}`, value: i }), ...(i === 1 ? ['--signing-key', secret] : [])]);
    if (r.status !== 0) throw new Error(r.stderr);
  }
  return data;
}

describe('stele keygen', () => {
  it('writes a 0600 secret key and a public key, prints the keyId and both paths', () => {
    const out = path.join(root, 'k1', 'signing.key');
    const r = cli(['keygen', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    if (process.platform !== 'win32') expect(fs.statSync(out).mode & 0o777).toBe(0o600);
    const pub = JSON.parse(fs.readFileSync(`${out}.pub`, 'utf8')) as { keyId: string; publicKey: string; type: string };
    expect(pub.type).toBe('stele.ed25519.public');
    expect(pub.keyId).toBe(crypto.createHash('sha256').update(Buffer.from(pub.publicKey, 'hex')).digest('hex'));
    expect(r.stdout).toContain(pub.keyId);
    expect(r.stdout).toContain(out);
    expect(r.stdout).toContain(`${out}.pub`);
    expect(fs.readFileSync(`${out}.pub`, 'utf8')).not.toContain('secretKey');
  });

  it('refuses to overwrite an existing key, and needs --out', () => {
    const before = fs.readFileSync(secret);
    const r = cli(['keygen', '--out', secret]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('STELE_E_USAGE');
    expect(r.stderr).toContain('never overwrites');
    expect(fs.readFileSync(secret)).toEqual(before);
    expect(cli(['keygen']).status).toBe(2);
  });
});

describe('writing with --signing-key', () => {
  it('cmd signs its checkpoints; verify and status count them verified', () => {
    const data = signedData();
    const checkpoints = readLogLines(data).filter((l) => l.type === 'stele.checkpoint');
    expect(checkpoints).toHaveLength(2);
    for (const c of checkpoints) expect(c.data).toMatchObject({ keyId, sig: expect.stringMatching(/^[0-9a-f]{128}$/) as unknown });
    expect(fs.existsSync(path.join(data, 'keys', `${keyId}.pub`))).toBe(true);

    const v = cli(['--data', data, 'verify', '--json']);
    expect(v.status, v.stderr).toBe(0);
    expect((JSON.parse(v.stdout) as VerifyJson).checkpoints).toMatchObject({ signed: 2, signaturesVerified: 2, unknownKeyIds: [], pinned: null });
    const human = cli(['--data', data, 'verify']);
    expect(human.stdout).toContain('signatures 2 checkpoints signed, 2 verified');

    const s = cli(['--data', data, 'status', '--json']);
    expect(s.status, s.stderr).toBe(0);
    expect((JSON.parse(s.stdout) as VerifyJson).checkpoints).toMatchObject({ signed: 2, signaturesVerified: 2 });
    expect(cli(['--data', data, 'status']).stdout).toContain('signatures 2 checkpoints signed, 2 verified');
  });

  it('STELE_SIGNING_KEY_FILE signs when --signing-key is absent; start and demo sign too', () => {
    const data = newDataDir();
    const r = cli(['--data', data, 'append', 'kv.put', '{"key":"a","value":1}'], { env: { STELE_SIGNING_KEY_FILE: secret } });
    expect(r.status, r.stderr).toBe(0);
    const start = cli(['--data', data, '--signing-key', secret, 'start', '--json']);
    expect(start.status, start.stderr).toBe(0);
    const demo = newDataDir();
    const d = cli(['--data', demo, '--signing-key', secret, '--checkpoint-every', '100', 'demo', '--commands', '300']);
    expect(d.status, d.stderr).toBe(0);
    for (const dir of [data, demo]) {
      const checkpoints = readLogLines(dir).filter((l) => l.type === 'stele.checkpoint');
      expect(checkpoints.length).toBeGreaterThan(0);
      expect(checkpoints.every((c) => c.data.keyId === keyId)).toBe(true);
    }
  });

  it('refuses a secret key file others can read, writing nothing', () => {
    if (process.platform === 'win32') return;
    const data = newDataDir();
    const loose = path.join(root, 'loose.key');
    fs.copyFileSync(secret, loose);
    fs.chmodSync(loose, 0o644);
    const r = cli(['--data', data, '--signing-key', loose, 'cmd', 'kv.put', '{"key":"a","value":1}']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('STELE_E_KEY_INVALID');
    expect(r.stderr).toContain('chmod 600');
    expect(fs.readFileSync(path.join(data, 'events.ndjson'), 'utf8')).toBe('');
  });
});

describe('stele serve --signing-key', () => {
  afterEach(stopAll);

  it('shows the signing keyId in its status and signs its shutdown checkpoint', async () => {
    const data = newDataDir();
    const service = await startServe(data, ['--signing-key', secret]);
    const status = await request<{ signing?: { keyId: string } }>(service.url, '/v1/status');
    expect(status.json.signing).toEqual({ keyId });
    const put = await request(service.url, '/v1/commands', { body: { cmd: 'kv.put', data: { key: 'a', value: 1 } }, auth: true });
    expect(put.status, put.text).toBe(200);
    expect((await service.stop()).code).toBe(0);
    const last = readLogLines(data).at(-1)!;
    expect(last.type).toBe('stele.checkpoint');
    expect(last.data.keyId).toBe(keyId);
    // Without a key, no signing in the status.
    const plain = await startServe(newDataDir());
    expect((await request<{ signing?: unknown }>(plain.url, '/v1/status')).json.signing).toBeUndefined();
  });
});

describe('verify --pubkey', () => {
  it('with the writer\'s public key pinned, every signature is verified by it', () => {
    const data = signedData();
    const r = cli(['--data', data, 'verify', '--pubkey', `${secret}.pub`]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('2 verified, 2 by a pinned key');
    expect(r.stdout).not.toContain('warning');
  });

  it('with another key pinned, the checkpoints signed by the keyring key are a warning, not a failure', () => {
    const data = signedData();
    const r = cli(['--data', data, 'verify', '--pubkey', otherPub, '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as VerifyJson).checkpoints.pinned).toEqual({ verified: 0, otherSigned: 2, otherKeyIds: [keyId] });
    const human = cli(['--data', data, 'verify', '--pubkey', otherPub]);
    expect(human.status).toBe(0);
    expect(human.stdout).toContain(`warning: 2 checkpoints are signed by keys not pinned with --pubkey (${keyId})`);
  });

  it('without the keyring, a bare 64-hex key checks the signatures; without either they are reported unchecked', () => {
    const data = signedData();
    fs.rmSync(path.join(data, 'keys'), { recursive: true });
    const hex = (JSON.parse(fs.readFileSync(`${secret}.pub`, 'utf8')) as { publicKey: string }).publicKey;
    const pinned = cli(['--data', data, 'verify', '--json', '--pubkey', hex]);
    expect((JSON.parse(pinned.stdout) as VerifyJson).checkpoints).toMatchObject({ signaturesVerified: 2, pinned: { verified: 2 } });
    const bare = cli(['--data', data, 'verify']);
    expect(bare.status).toBe(0);
    expect(bare.stdout).toContain(`warning: 2 checkpoint signatures not checked`);
    expect(bare.stdout).toContain(keyId);
  });

  it('a bad --pubkey is a usage error naming it', () => {
    const data = signedData();
    const r = cli(['--data', data, 'verify', '--pubkey', path.join(root, 'missing.pub')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('STELE_E_KEY_INVALID');
    expect(r.stderr).toContain('missing.pub');
  });
});

describe('an altered signature', () => {
  it('verify exits 1 naming the line and seq; writers refuse (panic); reads warn and exit 1', () => {
    const data = signedData();
    const file = path.join(data, 'events.ndjson');
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
    // The last line is the second session's shutdown checkpoint: only its signature changes.
    const at = lines.length - 1;
    const event = JSON.parse(lines[at]!) as LogLine;
    const sig = event.data.sig as string;
    event.data.sig = sig.slice(0, 10) + (sig[10] === 'a' ? 'b' : 'a') + sig.slice(11);
    lines[at] = canonicalize(event);
    fs.writeFileSync(file, lines.join('\n') + '\n');
    fs.rmSync(path.join(data, 'index', 'tree.hashes'), { force: true });

    const v = cli(['--data', data, 'verify']);
    expect(v.status).toBe(1);
    expect(v.stdout).toContain('FAILED');
    expect(v.stderr).toContain('STELE_E_SIGNATURE_INVALID');
    expect(v.stderr).toContain(`line ${at + 1} (seq ${at}, at data.sig)`);
    const json = JSON.parse(cli(['--data', data, 'verify', '--json']).stdout) as VerifyJson;
    expect(json).toMatchObject({ ok: false, fault: { code: 'STELE_E_SIGNATURE_INVALID', line: at + 1, seq: at, path: 'data.sig' } });

    const before = fs.readFileSync(file);
    const w = cli(['--data', data, '--signing-key', secret, 'cmd', 'kv.put', '{"key":"x","value":1}']);
    expect(w.status).toBe(3);
    expect(w.stderr).toContain('STELE_E_PANIC');
    expect(fs.readFileSync(file)).toEqual(before);

    const s = cli(['--data', data, 'status']);
    expect(s.status).toBe(1);
    expect(s.stderr).toContain('STELE_E_SIGNATURE_INVALID');
  });
});
