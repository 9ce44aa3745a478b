/**
 * Hostile input against stele's parsers (issue #6, item 3): the log line verifier, the
 * replay of a log with a mutated line, the snapshot loader, the log and state proof parsers
 * and the proof bundle verifier. Inputs are arbitrary bytes and mutations (byte flips,
 * insertions, deletions, splices) of valid files written by a real engine. Every case is a
 * typed SteleError (or a failed check / an invalid verdict), never another exception, and
 * never an acceptance of changed bytes, except where the format allows it and the
 * acceptance is exact (a line that is canonical re-canonicalises to itself).
 */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalize } from '../../src/canonical/json.js';
import { ed25519VerifyNode } from '../../src/crypto/keys.js';
import { errorCodes, isSteleError } from '../../src/errors.js';
import { createRegistry } from '../../src/events/builtin.js';
import { sha256 } from '../../src/hash/sha256.js';
import { ChainVerifier } from '../../src/log/chain.js';
import { DataDirBundles } from '../../src/proof/build.js';
import { verifyBundle } from '../../src/proof/bundle.js';
import { checkProof, parseProof } from '../../src/proof/format.js';
import { checkStateProofJson, parseStateProof } from '../../src/proof/state-proof.js';
import { Engine } from '../../src/runtime/engine.js';
import { loadSnapshotFile } from '../../src/runtime/replay.js';
import { verifyDir } from '../../src/runtime/verify.js';
import { WriterSource } from '../../src/service/writer-source.js';
import { freshDataDir, newKey, proofTempRoot, writeWorkload } from '../proof/fixtures.js';
import { fuzzParams, fuzzSeed, fuzzTimeoutMs, protoObjectText } from './arbitraries.js';

/** Cases per target in `npm test` / under STELE_SOAK=1. */
export const parserRuns = { line: 500, replay: 60, snapshot: 300, proof: 500, bundle: 400 } as const;
export const parserSoakRuns = { line: 20_000, replay: 1000, snapshot: 5000, proof: 20_000, bundle: 10_000 } as const;

let root: string;
let data: string;
let logText: string;
let lines: string[];
let snapshotFile: string;
let snapshotBytes: Buffer;
let bundles: string[];
let inclusion: unknown;
let consistency: unknown;
let stateProofs: unknown[];

beforeAll(async () => {
  root = proofTempRoot();
  const key = newKey(root, 'writer.key');
  data = freshDataDir(root, 'data');
  await writeWorkload(data, { signingKey: key.signing });
  const engine = await Engine.open(data, {});
  snapshotFile = await engine.snapshot();
  await engine.close();
  snapshotBytes = fs.readFileSync(snapshotFile);
  logText = fs.readFileSync(path.join(data, 'events.ndjson'), 'utf8');
  lines = logText.split('\n').slice(0, -1);
  const b = await DataDirBundles.open(data);
  try {
    bundles = [(await b.eventBundle(3)).text, (await b.eventBundle(b.size - 1)).text, b.stateBundle('kv:a').text, b.stateBundle('kv:gone').text, b.stateBundle('account:bob').text];
  } finally {
    b.close();
  }
  const source = await WriterSource.open(data, { threads: 1 });
  try {
    inclusion = JSON.parse(JSON.stringify(source.proveInclusion(2, source.views.size)));
    consistency = JSON.parse(JSON.stringify(source.proveConsistency(3, source.views.size)));
  } finally {
    await source.close();
  }
  stateProofs = bundles.slice(2).map((t) => (JSON.parse(t) as { proof: unknown }).proof);
});

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** A mutation of `bytes`: flip, set, insert or delete bytes, or splice in a hostile token. */
function mutation(length: number): fc.Arbitrary<(b: Buffer) => Buffer> {
  const at = fc.nat({ max: Math.max(0, length - 1) });
  return fc.oneof(
    fc.tuple(at, fc.integer({ min: 1, max: 255 })).map(([i, x]) => (b: Buffer) => {
      const c = Buffer.from(b);
      c[i] = c[i]! ^ x;
      return c;
    }),
    fc.tuple(at, fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([i, ins]) => (b: Buffer) => Buffer.concat([b.subarray(0, i), Buffer.from(ins), b.subarray(i)])),
    fc.tuple(at, fc.integer({ min: 1, max: 16 })).map(([i, n]) => (b: Buffer) => Buffer.concat([b.subarray(0, i), b.subarray(i + n)])),
    fc.tuple(at, fc.constantFrom(' ', '\n', '"', '\\u0000', '1e400', '-0', '__proto__', '{"__proto__":1}', '\\ud800', ',', '}', '0', '9')).map(([i, s]) => (b: Buffer) => Buffer.concat([b.subarray(0, i), Buffer.from(s), b.subarray(i)])),
    fc.tuple(at, fc.constantFrom('0', 'f', 'a', '1')).map(([i, s]) => (b: Buffer) => {
      // Change one character to another of its class (hex to hex, digit to digit): the subtle kind.
      const c = Buffer.from(b);
      c[i] = c[i] === s.charCodeAt(0) ? (s === '0' ? 0x31 : 0x30) : s.charCodeAt(0);
      return c;
    }),
  );
}

/** Whether `bytes` are UTF-8 JSON equal to their own RFC 8785 form (an independent check: JSON.parse + canonicalize). */
function isCanonicalText(bytes: Buffer): boolean {
  const text = bytes.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(bytes)) return false;
  try {
    return canonicalize(JSON.parse(text)) === text;
  } catch {
    return false;
  }
}

const integrityCode = (code: string): boolean => Object.hasOwn(errorCodes, code) && errorCodes[code as keyof typeof errorCodes] === 'integrity';

/** Runs a fresh verifier over `text` (lines split on \n); the first fault, or the lines accepted. */
function verifyLines(text: Buffer): { fault?: { code: string; line?: number }; accepted: number } {
  const verifier = new ChainVerifier(createRegistry(), { file: 'events.ndjson' });
  let offset = 0;
  let accepted = 0;
  while (offset < text.length) {
    const end = text.indexOf(0x0a, offset);
    if (end < 0) break; // a torn tail: not a line yet
    try {
      verifier.check(text, offset, end, offset);
    } catch (err) {
      if (!isSteleError(err)) throw err;
      return { fault: { code: err.code, ...(err.where.line === undefined ? {} : { line: err.where.line }) }, accepted };
    }
    accepted++;
    offset = end + 1;
  }
  return { accepted };
}

describe(`log lines and replay (seed ${fuzzSeed})`, { timeout: fuzzTimeoutMs }, () => {
  it('arbitrary bytes as a line are a typed fault naming line 1, or an exact canonical accept', () => {
    const line = fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u).filter((b) => b !== 0x0a)),
      fc.jsonValue().map((v) => Buffer.from(canonicalize(v))),
      protoObjectText.map((t) => Buffer.from(t)),
    );
    fc.assert(
      fc.property(line, (bytes) => {
        const r = verifyLines(Buffer.concat([Buffer.from(bytes), Buffer.from('\n')]));
        if (r.fault !== undefined) {
          expect(integrityCode(r.fault.code), r.fault.code).toBe(true);
          expect(r.fault.line).toBe(1);
        } else {
          const text = Buffer.from(bytes).toString('utf8');
          expect(canonicalize(JSON.parse(text))).toBe(text);
        }
      }),
      fuzzParams(parserRuns.line, parserSoakRuns.line),
    );
  });

  it('a mutated line of a valid log is a typed fault at that line or the next, or an exact canonical accept of the last line', () => {
    const bytes = Buffer.from(logText);
    const lineStarts = [0];
    for (let i = 0; i < bytes.length - 1; i++) if (bytes[i] === 0x0a) lineStarts.push(i + 1);
    fc.assert(
      fc.property(fc.nat({ max: lines.length - 1 }).chain((n) => fc.tuple(fc.constant(n), mutation(Buffer.byteLength(lines[n]!)))), ([n, mutate]) => {
        const original = Buffer.from(lines[n]!);
        const changed = mutate(original);
        if (changed.equals(original)) return;
        const text = Buffer.concat([bytes.subarray(0, lineStarts[n]), changed, bytes.subarray(lineStarts[n]! + original.length)]);
        const r = verifyLines(text);
        if (r.fault !== undefined) {
          expect(integrityCode(r.fault.code), r.fault.code).toBe(true);
          // The mutated line itself, or (when it is still a canonical event) the next one, whose prev no longer matches;
          // an inserted \n makes the mutated line two.
          expect(r.fault.line, JSON.stringify(r.fault)).toBeGreaterThanOrEqual(n + 1);
          expect(r.fault.line, JSON.stringify(r.fault)).toBeLessThanOrEqual(n + 2 + changed.filter((b) => b === 0x0a).length);
          // A single line that is not exactly canonical JSON is refused at that line, not later.
          if (!changed.includes(0x0a) && !isCanonicalText(changed)) expect(r.fault.line, JSON.stringify(r.fault)).toBe(n + 1);
        } else {
          // Only the last line can change unnoticed by the chain (no line after it links to it),
          // and what is accepted is exactly canonical.
          expect(n, `line ${n + 1} mutated yet accepted`).toBe(lines.length - 1);
          for (const l of text.toString('utf8').split('\n').filter((x) => x !== '')) expect(canonicalize(JSON.parse(l))).toBe(l);
        }
      }),
      fuzzParams(parserRuns.line, parserSoakRuns.line),
    );
  });

  it('a replay (stele verify) of a log with a mutated line reports a typed fault naming a line, never throws', async () => {
    const work = path.join(root, 'replay');
    const bytes = Buffer.from(logText);
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: lines.length - 2 }).chain((n) => fc.tuple(fc.constant(n), mutation(Buffer.byteLength(lines[n]!)))), async ([n, mutate]) => {
        const original = Buffer.from(lines[n]!);
        const changed = mutate(original);
        if (changed.equals(original)) return;
        const start = bytes.indexOf(original);
        fs.rmSync(work, { recursive: true, force: true });
        fs.cpSync(data, work, { recursive: true });
        fs.rmSync(path.join(work, 'snapshots'), { recursive: true, force: true });
        fs.writeFileSync(path.join(work, 'events.ndjson'), Buffer.concat([bytes.subarray(0, start), changed, bytes.subarray(start + original.length)]));
        const report = await verifyDir(work, { threads: 1 });
        expect(report.ok, `line ${n + 1} mutated yet verified`).toBe(false);
        expect(integrityCode(report.fault!.code), report.fault!.code).toBe(true);
        expect(report.fault!.line, JSON.stringify(report.fault)).toBeGreaterThanOrEqual(n + 1);
      }),
      fuzzParams(parserRuns.replay, parserSoakRuns.replay),
    );
  });
});

describe(`snapshots (seed ${fuzzSeed})`, { timeout: fuzzTimeoutMs }, () => {
  it('a mutated snapshot file is STELE_E_SNAPSHOT_INVALID naming the file, never loaded with another state', () => {
    const work = path.join(root, 'snap');
    fs.mkdirSync(work, { recursive: true });
    const file = path.join(work, path.basename(snapshotFile));
    fc.assert(
      fc.property(mutation(snapshotBytes.length), (mutate) => {
        const changed = mutate(snapshotBytes);
        if (changed.equals(snapshotBytes)) return;
        fs.writeFileSync(file, changed);
        let code = 'loaded';
        let where: { file?: string; line?: number } = {};
        try {
          loadSnapshotFile(file, {});
        } catch (err) {
          if (!isSteleError(err)) throw err;
          code = err.code;
          where = err.where;
        }
        expect(code).toBe('STELE_E_SNAPSHOT_INVALID');
        expect(where.file).toContain(path.basename(snapshotFile));
      }),
      fuzzParams(parserRuns.snapshot, parserSoakRuns.snapshot),
    );
  });
});

/** Mutations of a JSON value: replace, delete or add a field anywhere, with hostile values. */
function jsonMutation(): fc.Arbitrary<(v: unknown) => unknown> {
  const hostile = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(-0, 2 ** 53 + 1, 1e300, -1, 0.5, '0'.repeat(64), 'F'.repeat(64), '', '__proto__', Array.from({ length: 300 }, () => '0'.repeat(64))));
  return fc.tuple(fc.nat(), fc.constantFrom('replace', 'delete', 'add'), hostile, fc.constantFrom('__proto__', 'constructor', 'x', 'type', 'v', 'value')).map(([pick, op, value, newKey]) => (v: unknown) => {
    const copy = JSON.parse(JSON.stringify(v)) as unknown;
    const holders: { obj: Record<string, unknown> | unknown[]; key: string | number }[] = [];
    const walk = (x: unknown): void => {
      if (Array.isArray(x)) {
        x.forEach((e, i) => {
          holders.push({ obj: x, key: i });
          walk(e);
        });
      } else if (typeof x === 'object' && x !== null) {
        for (const [k, e] of Object.entries(x)) {
          holders.push({ obj: x as Record<string, unknown>, key: k });
          walk(e);
        }
      }
    };
    walk(copy);
    if (holders.length === 0) return value;
    const h = holders[pick % holders.length]!;
    if (op === 'replace') (h.obj as Record<string | number, unknown>)[h.key] = value;
    else if (op === 'delete' && Array.isArray(h.obj)) h.obj.splice(h.key as number, 1);
    else if (op === 'delete') delete (h.obj as Record<string, unknown>)[h.key];
    else if (!Array.isArray(h.obj)) Object.defineProperty(h.obj, newKey, { value, enumerable: true, configurable: true, writable: true });
    return copy;
  });
}

describe(`proofs (seed ${fuzzSeed})`, { timeout: fuzzTimeoutMs }, () => {
  it('parseProof of arbitrary JSON is STELE_E_PROOF_FORMAT or a parsed proof, never another exception', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.constant(inclusion).chain((p) => jsonMutation().map((m) => m(p)))), (value) => {
        try {
          const proof = parseProof(value);
          expect(typeof checkProof(sha256, proof)).toBe('boolean');
        } catch (err) {
          if (!isSteleError(err)) throw err;
          expect(err.code).toBe('STELE_E_PROOF_FORMAT');
        }
      }),
      fuzzParams(parserRuns.proof, parserSoakRuns.proof),
    );
  });

  it('a mutated inclusion or consistency proof never checks', () => {
    fc.assert(
      fc.property(fc.constantFrom(inclusion, consistency), jsonMutation(), (proof, mutate) => {
        const changed = mutate(proof);
        if (JSON.stringify(changed) === JSON.stringify(proof)) return;
        let parsed;
        try {
          parsed = parseProof(changed);
        } catch (err) {
          if (!isSteleError(err)) throw err;
          expect(err.code).toBe('STELE_E_PROOF_FORMAT');
          return;
        }
        // `type` may be left out (it is inferred from the fields): the same proof, which checks.
        if (JSON.stringify(parsed) === JSON.stringify(parseProof(proof))) return;
        expect(checkProof(sha256, parsed), JSON.stringify(changed).slice(0, 300)).toBe(false);
      }),
      fuzzParams(parserRuns.proof, parserSoakRuns.proof),
    );
    expect(checkProof(sha256, parseProof(inclusion))).toBe(true);
    expect(checkProof(sha256, parseProof(consistency))).toBe(true);
  });

  it('a mutated state proof is STELE_E_PROOF_FORMAT or does not check', () => {
    fc.assert(
      fc.property(fc.constantFrom(...stateProofs), jsonMutation(), (proof, mutate) => {
        const changed = mutate(proof);
        if (JSON.stringify(changed) === JSON.stringify(proof)) return;
        let parsed;
        try {
          parsed = parseStateProof(changed);
        } catch (err) {
          if (!isSteleError(err)) throw err;
          expect(err.code).toBe('STELE_E_PROOF_FORMAT');
          return;
        }
        // `value` is optional beside valueHash: without it, the same proof of the same leaf.
        const proves = (p: object): string => JSON.stringify({ ...p, value: undefined });
        if (proves(parsed) === proves(parseStateProof(proof))) return;
        expect(checkStateProofJson(sha256, parsed), JSON.stringify(changed).slice(0, 300)).toBe(false);
      }),
      fuzzParams(parserRuns.proof, parserSoakRuns.proof),
    );
    for (const p of stateProofs) expect(checkStateProofJson(sha256, parseStateProof(p))).toBe(true);
  });

  it('a mutated proof bundle file is never verified, and the verifier never throws', () => {
    fc.assert(
      fc.property(fc.nat({ max: 4 }).chain((i) => fc.tuple(fc.constant(i), mutation(Buffer.byteLength(bundles[i]!)))), ([i, mutate]) => {
        const original = Buffer.from(bundles[i]!);
        const changed = mutate(original);
        if (changed.equals(original)) return;
        const verdict = verifyBundle(changed, { sha256, ed25519Verify: ed25519VerifyNode });
        expect(verdict.valid, changed.toString('latin1').slice(0, 300)).toBe(false);
        if (verdict.malformed) expect(Object.hasOwn(errorCodes, verdict.error!.code)).toBe(true);
      }),
      fuzzParams(parserRuns.bundle, parserSoakRuns.bundle),
    );
    for (const b of bundles) expect(verifyBundle(b, { sha256, ed25519Verify: ed25519VerifyNode }).valid).toBe(true);
  });
});
