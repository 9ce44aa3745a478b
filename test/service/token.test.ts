/**
 * The bearer token: where it comes from (env, file, generated once into the data directory
 * with mode 0600) and how it is checked (401 without or malformed, 403 wrong).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TokenCheck, resolveToken, tokenFileName } from '../../src/service/token.js';
import { errorCodeOf, tempDir } from '../helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function dir(): string {
  const d = tempDir();
  dirs.push(d);
  return d;
}


describe('resolveToken', () => {
  it('prefers STELE_TOKEN, then the given file, then the data directory file', () => {
    const d = dir();
    const file = path.join(d, 'my.token');
    fs.writeFileSync(file, 'from-the-file-0123456789\n');
    expect(resolveToken(d, { env: 'from-the-env-0123456789', file })).toMatchObject({ token: 'from-the-env-0123456789', source: 'env' });
    expect(resolveToken(d, { env: '', file })).toMatchObject({ token: 'from-the-file-0123456789', source: 'file' });
  });

  it('generates a token once, with mode 0600, and reads the same one on the next start', () => {
    const d = dir();
    const first = resolveToken(d, {});
    expect(first.source).toBe('generated');
    expect(first.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const stat = fs.statSync(path.join(d, tokenFileName));
    expect(stat.mode & 0o777).toBe(0o600);
    const second = resolveToken(d, {});
    expect(second).toMatchObject({ token: first.token, source: 'file' });
    expect(fs.readdirSync(d)).toEqual([tokenFileName]);
  });

  it('removes the temp file a start killed before its rename left, and leaves a live process\'s', () => {
    const d = dir();
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    fs.writeFileSync(path.join(d, `${tokenFileName}.${dead}.tmp`), 'a-secret-nobody-uses-0123\n', { mode: 0o600 });
    fs.writeFileSync(path.join(d, `${tokenFileName}.${process.ppid}.tmp`), 'being-written-0123456789\n', { mode: 0o600 });
    expect(resolveToken(d, {}).source).toBe('generated');
    expect(fs.readdirSync(d).sort()).toEqual([tokenFileName, `${tokenFileName}.${process.ppid}.tmp`]);
  });

  it('refuses a short or non-printable token and a missing token file', () => {
    const d = dir();
    expect(errorCodeOf(() => resolveToken(d, { env: 'short' }))).toBe('STELE_E_USAGE');
    expect(errorCodeOf(() => resolveToken(d, { env: 'has a space in it 0123456789' }))).toBe('STELE_E_USAGE');
    expect(errorCodeOf(() => resolveToken(d, { file: path.join(d, 'missing') }))).toBe('STELE_E_USAGE');
  });
});

describe('TokenCheck', () => {
  const check = new TokenCheck('the-right-token-0123456789');
  it('accepts the token', () => {
    expect(errorCodeOf(() => check.check('Bearer the-right-token-0123456789'))).toBe('ok');
  });
  it('401 without a header or with a malformed one, 403 with another token', () => {
    expect(errorCodeOf(() => check.check(undefined))).toBe('STELE_E_UNAUTHORIZED');
    expect(errorCodeOf(() => check.check(''))).toBe('STELE_E_UNAUTHORIZED');
    expect(errorCodeOf(() => check.check('Basic dXNlcjpwYXNz'))).toBe('STELE_E_UNAUTHORIZED');
    expect(errorCodeOf(() => check.check('Bearer '))).toBe('STELE_E_UNAUTHORIZED');
    expect(errorCodeOf(() => check.check('Bearer the-right-token-0123456788'))).toBe('STELE_E_FORBIDDEN');
    expect(errorCodeOf(() => check.check('Bearer the-right-token-0123456789x'))).toBe('STELE_E_FORBIDDEN');
    expect(errorCodeOf(() => check.check('Bearer the-right'))).toBe('STELE_E_FORBIDDEN');
  });
});
