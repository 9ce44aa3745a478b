/**
 * Hostile input against the built CLI (issue #6, item 3): `stele cmd` / `stele append` with
 * hostile JSON arguments and stdin, bad flags and values, path traversal in `bundle get HASH`
 * and `state get KEY`. Every case exits 2 (an input error, docs/cli.md) with a typed error
 * (`[STELE_E_…]` on stderr; `{"error":…}` on stdout with --json), never a stack trace or
 * another exit code, and the data directory is byte for byte unchanged. A spawn costs a
 * few hundred milliseconds, so the case counts are small; STELE_SOAK=1 runs more.
 * Requires `npm run build` (the tests run dist/).
 */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/runtime/engine.js';
import { initDataDir } from '../../src/store/data-dir.js';
import { fingerprint } from '../e2e/service.js';
import { cli, tempDir } from '../helpers.js';
import { fuzzParams, fuzzSeed, fuzzTimeoutMs, isErrorCode, jsonFaultBody, nastyString, protoKeys, schemaFaultCommand, traversal } from './arbitraries.js';

/** Cases per property in `npm test` / under STELE_SOAK=1 (each case is one process). */
export const cliRuns = 15;
export const cliSoakRuns = 200;

let root: string;
let dir: string;
let before: string[];

beforeAll(async () => {
  root = tempDir('stele-fuzz-cli-');
  dir = path.join(root, 'data');
  initDataDir(dir);
  const engine = await Engine.open(dir, {});
  await engine.run({ cmd: 'kv.put', data: { key: 'fz', value: 1 } });
  await engine.run({ cmd: 'ledger.open', data: { account: 'fz' } });
  // Closing appends a checkpoint: the log ends with one, so a command that opens and closes
  // the engine without writing has nothing to checkpoint.
  await engine.close();
  before = fingerprint(dir);
});

afterAll(() => {
  if (root !== undefined) fs.rmSync(root, { recursive: true, force: true });
});

const stackTrace = /\n\s+at .+:\d+:\d+\)?/;

/** Runs the CLI on the fuzz directory and asserts a typed input error (exit 2) that wrote nothing. */
function expectRefused(args: string[], input?: string | Buffer, allowed: readonly number[] = [2]): void {
  const what = `stele ${args.map((a) => JSON.stringify(a.slice(0, 80))).join(' ')}${input === undefined ? '' : ` < ${JSON.stringify(input.toString().slice(0, 80))}`}`;
  const json = args.includes('--json');
  const r = cli(['--data', dir, ...args], input === undefined ? {} : { input });
  expect(allowed, `${what}: exit ${r.status}\n${r.stderr.slice(0, 500)}${r.stdout.slice(0, 300)}`).toContain(r.status);
  expect(r.stderr, what).not.toMatch(stackTrace);
  expect(r.stderr, what).not.toContain('internal error');
  if (r.status !== 0) {
    // `{"error":…}` on stdout with --json, and for a stdin batch of commands one result line
    // each, `{line, ok: false, error}`; else `… [STELE_E_…]` (or commander's `error:`) on stderr.
    const errors = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { error?: { code?: unknown } }).error).filter((e) => e !== undefined);
    for (const e of errors) expect(isErrorCode(e.code), what).toBe(true);
    if (json || errors.length > 0) expect(errors.length, `${what}: ${r.stdout.slice(0, 300)}`).toBeGreaterThan(0);
    else expect(r.stderr, what).toMatch(/\[STELE_E_[A-Z_]+\]|error: /);
  }
  expect(fingerprint(dir), `${what} wrote something`).toEqual(before);
}

const jsonFlag = fc.boolean().map((j) => (j ? ['--json'] : []));
const asArg = (b: Buffer): string => b.toString('utf8');
const badLine = (b: Buffer): Buffer => {
  const one = Buffer.from(b.filter((x) => x !== 0x0a));
  return one.toString('latin1').trim() === '' ? Buffer.from('{') : one;
};

describe(`CLI: hostile input exits 2 with a typed error and writes nothing (seed ${fuzzSeed})`, { timeout: fuzzTimeoutMs }, () => {
  it('stele cmd NAME JSON with hostile names and JSON', () => {
    const command = fc.oneof(
      fc.tuple(fc.constantFrom('kv.put', 'ledger.deposit', 'ledger.open'), jsonFaultBody.filter((b) => !b.includes(0)).map(asArg)),
      schemaFaultCommand.filter((c) => typeof c === 'object' && c !== null && !Array.isArray(c) && typeof (c as { cmd?: unknown }).cmd === 'string' && (c as { cmd: string }).cmd !== '' && !(c as { cmd: string }).cmd.includes('\u0000') && Object.keys(c).every((k) => k === 'cmd' || k === 'data')).map((c) => {
        const { cmd, data } = c as { cmd: string; data: unknown };
        return [cmd, JSON.stringify(data) ?? 'undefined'] as [string, string];
      }),
      fc.tuple(fc.constantFrom(...protoKeys, 'kv', 'nope.thing', 'stele.checkpoint'), fc.constant('{"key":"fz","value":1}')),
    );
    fc.assert(
      fc.property(command, jsonFlag, ([name, json], flag) => {
        // An argument starting with '-' is a flag to commander (an unknown option is also a usage error).
        expectRefused(['cmd', name, json, ...flag]);
      }),
      fuzzParams(cliRuns, cliSoakRuns),
    );
  });

  it('stele append TYPE JSON and --stdin with unknown types and versions, reserved types, hostile payloads', () => {
    const appendCase: fc.Arbitrary<{ args: string[]; input?: Buffer }> = fc.oneof(
      fc.tuple(fc.constantFrom('nope.thing', 'kv', 'KV.PUT', 'stele.checkpoint', 'audit.command_rejected', 'ledger.deposited', ...protoKeys), fc.constant([] as string[])).map(([t, v]) => ({ args: ['append', t, '{"key":"fz","value":1}', ...v] })),
      fc.constantFrom('0', '2', '-1', '1e99', 'abc', '1.5', '9007199254740993').map((v) => ({ args: ['append', 'kv.put', '{"key":"fz","value":1}', '--v', v] })),
      jsonFaultBody.filter((b) => !b.includes(0)).map((b) => ({ args: ['append', 'kv.put', asArg(b)] })),
      fc.constantFrom('[]', '1', '"x"', '{"__proto__":1', '{"__proto__":1,"__proto__":2}', '{"actor":1}x').map((m) => ({ args: ['append', 'kv.put', '{"key":"fz","value":1}', '--meta', m] })),
      // stdin: all-or-nothing batches in which at least one line is bad (the last).
      fc.tuple(fc.array(fc.constant('{"type":"kv.put","data":{"key":"ok","value":1}}'), { maxLength: 3 }), fc.oneof(jsonFaultBody, fc.constantFrom('{"type":"nope.thing","data":{}}', '{"type":"kv.put","v":99,"data":{"key":"a","value":1}}', '{"type":"kv.put","data":{"key":"","value":1}}', '{"type":"stele.checkpoint","data":{}}', '{"type":"kv.put","data":{"key":"a","value":1},"__proto__":{"polluted":1}}').map((t) => Buffer.from(t)))).map(([good, bad]) => ({
        args: ['append', '--stdin'],
        // The bad line stays bad once its newlines are taken out (a blank line would just be skipped).
        input: Buffer.concat([Buffer.from(good.map((g) => `${g}\n`).join('')), badLine(bad), Buffer.from('\n')]),
      })),
      fc.tuple(fc.array(schemaFaultCommand.map((c) => JSON.stringify(c) ?? 'null'), { minLength: 1, maxLength: 3 })).map(([ls]) => ({ args: ['cmd', '--stdin'], input: Buffer.from(ls.map((l) => `${l}\n`).join('')) })),
    );
    fc.assert(
      fc.property(appendCase, jsonFlag, ({ args, input }, flag) => {
        expectRefused([...args, ...flag], input);
      }),
      fuzzParams(cliRuns, cliSoakRuns),
    );
  });

  it('bad flags and values: --at -1, --at 1e99, --limit abc, --at-time junk, --checkpoint-every -5', () => {
    const badInt = fc.constantFrom('-1', '1e99', 'abc', '1.5', '', ' ', '0x10', '9007199254740993', 'NaN', 'Infinity', '--', '1 2');
    const flagCase = fc.oneof(
      fc.tuple(fc.constantFrom(['state', 'get', 'kv:fz'], ['state', 'dump'], ['ledger', 'balance', 'fz'], ['ledger', 'accounts'], ['stats'], ['replay']), badInt).map(([cmd, v]) => [...cmd, `--at=${v}`]),
      fc.tuple(fc.constantFrom(['state', 'get', 'kv:fz'], ['replay'], ['stats']), fc.constantFrom('junk', '', '2026-13-01T00:00:00.000Z', '1e99', '-1', 'NaN', '../../etc/passwd')).map(([cmd, v]) => [...cmd, `--at-time=${v}`]),
      badInt.map((v) => ['log', `--limit=${v}`]),
      badInt.map((v) => ['log', `--from=${v}`]),
      badInt.map((v) => [`--checkpoint-every=${v}`, 'status']),
      fc.constantFrom(['state', 'get', 'kv:fz', '--at', '99999'], ['replay', '--at', '99999'], ['cmd', 'kv.put', '{"key":"fz","value":1}', '--expected-size', '-1'], ['frobnicate'], ['state', 'get'], ['cmd'], ['--no-such-flag', 'status']),
    );
    fc.assert(
      fc.property(flagCase, jsonFlag, (args, flag) => {
        expectRefused([...args, ...flag]);
      }),
      fuzzParams(cliRuns, cliSoakRuns),
    );
  });

  it('path traversal in bundle get HASH is a usage error; in state get KEY a plain absent key', () => {
    const name = fc.oneof(traversal.filter((t) => !t.includes('\u0000') && !t.startsWith('-')), nastyString.filter((s) => s !== '' && !s.includes('\u0000') && !s.startsWith('-')));
    fc.assert(
      fc.property(fc.constantFrom('bundle', 'state'), name, jsonFlag, (what, n, flag) => {
        // A state key is a name, never a path: an absent key answers found: false (exit 0) or not found (2).
        if (what === 'bundle') expectRefused(['bundle', 'get', n, ...flag]);
        else expectRefused(['state', 'get', n, ...flag], undefined, [0, 2]);
      }),
      fuzzParams(cliRuns, cliSoakRuns),
    );
  });
});
