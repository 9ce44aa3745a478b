/**
 * Regression tests of the CLI bugs the hostile-input fuzz found (test/fuzz/cli.fuzz.test.ts),
 * each named after what it prevents. Runs the built CLI.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, newDataDir } from '../helpers.js';

describe('a bad flag value under --json is the JSON error on stdout, not only commander\'s text', () => {
  it.each([
    [['log', '--limit', 'abc', '--json']],
    [['append', 'kv.put', '{"key":"a","value":1}', '--v', '1.5', '--json']],
    [['state', 'get', 'kv:a', '--at', '-1', '--json']],
  ])('stele %j exits 2 with {"error":{"code":"STELE_E_USAGE"}}', (args) => {
    const r = cli(['--data', newDataDir(), ...args]);
    expect(r.status).toBe(2);
    const error = (JSON.parse(r.stdout.trim().split('\n')[0]!) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('STELE_E_USAGE');
    expect(error.message).toMatch(/--(limit|v|at)/);
  });
});

describe('a direct append cannot claim an idempotency key through --meta', () => {
  it('stele append with meta.idempotencyKey exits 2 and writes nothing', () => {
    const data = newDataDir();
    const r = cli(['--data', data, 'append', 'kv.put', '{"key":"a","value":1}', '--meta', '{"idempotencyKey":"victim","requestHash":"x"}', '--json']);
    expect(r.status).toBe(2);
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ error: { code: 'STELE_E_SCHEMA', where: { path: 'meta.idempotencyKey' } } });
    expect(fs.statSync(path.join(data, 'events.ndjson')).size).toBe(0);
  });
});
