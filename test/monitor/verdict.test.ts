/**
 * The monitor's decision (src/monitor/verdict.ts) on every verdict, with logs built in memory
 * (test/monitor/model.ts): honest growth never alarms; a truncation or a rewrite from any
 * point the monitor has seen always does; a proof the source falsified never passes; the
 * signature policy (pinned keys, --require-signed, trust on first use) decides as documented.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalize } from '../../src/canonical/json.js';
import { toHex } from '../../src/hash/hex.js';
import { sha256 } from '../../src/hash/sha256.js';
import type { Decision, Remembered, SignaturePolicy } from '../../src/monitor/verdict.js';
import { alarmCodes, decide, parseCheckpointLine, proofsNeeded } from '../../src/monitor/verdict.js';
import { ModelLog, monitorCrypto, noPolicy, rememberedAfter, testKey } from './model.js';

/** fast-check seed of every property here; replay a failure with STELE_SEED=<seed>. */
const seed = Number(process.env.STELE_SEED ?? 0x6d6f6e);

const operator = testKey();
const stranger = testKey();
const pinned: SignaturePolicy = { pinnedKeys: [operator.publicKey], learnedKeys: [], requireSigned: true };

function expectAlarm(d: Decision, verdict: 'truncated' | 'rewritten' | 'bad-signature'): void {
  expect(d.ok, JSON.stringify(d)).toBe(false);
  if (d.ok) return;
  expect(d.verdict).toBe(verdict);
  expect(d.error.code).toBe(alarmCodes[verdict]);
  expect(d.error.expected).toBeDefined();
  expect(d.error.found).toBeDefined();
  expect(d.error.fix).toContain('state file');
}

function verdictOf(d: Decision): string {
  return d.verdict;
}

describe('decide: ok verdicts', () => {
  it('no-checkpoint: nothing to trust yet, nothing needed', () => {
    const log = new ModelLog().events(3);
    const d = log.look(undefined);
    expect(d).toEqual({ ok: true, verdict: 'no-checkpoint', head: { size: 3, logRoot: log.root() } });
  });

  it('first: trust on first use, with the checkpoint proven into the head', () => {
    const log = new ModelLog().events(5).checkpoint().events(2);
    const d = log.look(undefined);
    expect(d.ok && d.verdict).toBe('first');
    if (!d.ok || d.verdict === 'no-checkpoint') return;
    expect(d.checkpoint.seq).toBe(5);
    expect(d.head).toEqual({ size: 8, logRoot: log.root() });
    expect(d.signature).toEqual({ status: 'unsigned' });
    expect(d.notes.join(' ')).toContain('unsigned');
    // Proven: the head extends the checkpoint's root, and the checkpoint line is event 5.
    expect(proofsNeeded(undefined, log.latest())).toEqual({ checkpoint: { size1: 5, size2: 8 }, inclusion: { seq: 5, size: 8 } });
  });

  it('unchanged: the same checkpoint, the head grown consistently or not at all', () => {
    const log = new ModelLog().events(5).checkpoint().events(1);
    const remembered = rememberedAfter(log.look(undefined));
    expect(verdictOf(log.look(remembered))).toBe('unchanged');
    log.events(4);
    const d = log.look(remembered);
    expect(verdictOf(d)).toBe('unchanged');
    expect(proofsNeeded(remembered, log.latest())).toEqual({ since: { size1: 7, size2: 11 } });
  });

  it('advanced: a newer checkpoint, consistent with everything seen', () => {
    const log = new ModelLog().events(5).checkpoint(operator);
    const remembered = rememberedAfter(log.look(undefined, pinned));
    log.events(5).checkpoint(operator).events(3);
    const d = log.look(remembered, pinned);
    expect(verdictOf(d)).toBe('advanced');
    if (d.ok && d.verdict === 'advanced') {
      expect(d.checkpoint.seq).toBe(11);
      expect(d.signature).toEqual({ status: 'valid', keyId: operator.keyId });
    }
  });
});

describe('decide: alarms', () => {
  it('truncated: fewer events than the remembered head, with or without the remembered checkpoint', () => {
    const log = new ModelLog().events(5).checkpoint().events(5);
    const remembered = rememberedAfter(log.look(undefined));
    expectAlarm(log.prefix(8).look(remembered), 'truncated');
    const cut = log.prefix(3).look(remembered);
    expectAlarm(cut, 'truncated');
    if (!cut.ok) expect(cut.error.message).toContain('checkpoint at seq 5 is gone');
    expectAlarm(log.prefix(0).look(remembered), 'truncated');
  });

  it('truncated: the newest checkpoint is older than the remembered one (cut back and regrown)', () => {
    const log = new ModelLog().events(3).checkpoint().events(3).checkpoint().events(1);
    const remembered = rememberedAfter(log.look(undefined));
    expect(remembered.checkpoint.seq).toBe(7);
    const regrown = log.prefix(5).events(10, 'regrown');
    expectAlarm(regrown.look(remembered), 'truncated');
  });

  it('rewritten: the same size with another root', () => {
    const log = new ModelLog().events(5).checkpoint().events(3);
    const remembered = rememberedAfter(log.look(undefined));
    const other = log.prefix(8).events(1, 'forged');
    expect(other.size).toBe(log.size);
    expectAlarm(other.look(remembered), 'rewritten');
  });

  it('rewritten: regenerated from an earlier point, longer than before, with a new checkpoint', () => {
    const log = new ModelLog().events(5).checkpoint(operator).events(3);
    const remembered = rememberedAfter(log.look(undefined, pinned));
    // The operator regenerates history from event 2 and signs it with its own key.
    const forged = log.prefix(2).events(1, 'forged').events(10).checkpoint(operator).events(2);
    const d = forged.look(remembered, pinned);
    expectAlarm(d, 'rewritten');
    if (!d.ok) expect(d.error.found).toContain('now');
  });

  it('rewritten: the remembered checkpoint line replaced (same events before it, another state root)', () => {
    const log = new ModelLog().events(5).checkpoint(operator);
    const remembered = rememberedAfter(log.look(undefined, pinned));
    const replaced = log.prefix(5).checkpoint(operator, (data) => {
      data['stateRoot'] = 'ab'.repeat(32);
    });
    // Re-signed over the new state root: a valid signature on a rewritten checkpoint.
    const resigned = new ModelLog().events(5);
    resigned.appendLine(replaced.lines[5]!.replace(/"sig":"[0-9a-f]+"/, `"sig":"${operator.sign(new TextEncoder().encode(`{"logRoot":"${log.root(5)}","size":5,"stateRoot":"${'ab'.repeat(32)}"}`))}"`));
    const d = resigned.look(remembered, pinned);
    expectAlarm(d, 'rewritten');
    if (!d.ok) expect(d.error.message).toContain('checkpoint at seq 5 was replaced');
  });

  it('rewritten: the checkpoint is gone although the log is as long', () => {
    const log = new ModelLog().events(5).checkpoint();
    const remembered = rememberedAfter(log.look(undefined));
    expectAlarm(log.prefix(5).events(1, 'instead').look(remembered), 'rewritten');
  });

  it('rewritten: on first use, a checkpoint whose root is not the log it sits in', () => {
    const log = new ModelLog().events(5).checkpoint(operator, (data) => {
      data['logRoot'] = 'cd'.repeat(32);
    });
    // Not signed over the tampered root: also a bad signature, which is decided first.
    expectAlarm(log.look(undefined, pinned), 'bad-signature');
    // Unsigned, the proofs decide.
    const unsigned = new ModelLog().events(5).checkpoint(undefined, (data) => {
      data['logRoot'] = 'cd'.repeat(32);
    });
    const d = unsigned.look(undefined);
    expectAlarm(d, 'rewritten');
    if (!d.ok) expect(d.error.message).toContain('does not extend its newest checkpoint');
  });

  it('rewritten: a checkpoint answer inconsistent with its own log (seq ≠ size)', () => {
    const log = new ModelLog().events(5).checkpoint(undefined, (data) => {
      data['size'] = 4;
    });
    expectAlarm(log.look(undefined), 'rewritten');
  });

  it('bad-signature: an altered signature, always; unsigned or another key when required', () => {
    const flipped = new ModelLog().events(5).checkpoint(operator, (data) => {
      const sig = data['sig'] as string;
      data['sig'] = (sig[0] === '0' ? '1' : '0') + sig.slice(1);
    });
    expectAlarm(flipped.look(undefined, pinned), 'bad-signature');
    // Even without any policy: an invalid signature under a key the monitor knows is never fine.
    flipped.keyring.push(operator);
    expectAlarm(flipped.look(undefined), 'bad-signature');
    // A sig without keyId is malformed whatever the keys.
    expectAlarm(new ModelLog().events(2).checkpoint(operator, (data) => delete data['keyId']).look(undefined), 'bad-signature');

    expectAlarm(new ModelLog().events(5).checkpoint().look(undefined, pinned), 'bad-signature');
    const d = new ModelLog().events(5).checkpoint(stranger).look(undefined, pinned);
    expectAlarm(d, 'bad-signature');
    if (!d.ok) expect(d.error.message).toContain(stranger.keyId);
  });

  it('bad-signature is decided before the proofs: a forged checkpoint on a truncated log names the signature', () => {
    const log = new ModelLog().events(5).checkpoint(operator).events(5);
    const remembered = rememberedAfter(log.look(undefined, pinned));
    expectAlarm(log.prefix(3).checkpoint(stranger).look(remembered, pinned), 'bad-signature');
  });
});

describe('decide: the signature policy', () => {
  it('not required: unsigned and unknown keys pass with a note, consistency is still proven', () => {
    const log = new ModelLog().events(5).checkpoint(stranger);
    const d = log.look(undefined);
    expect(verdictOf(d)).toBe('first');
    if (d.ok && d.verdict === 'first') {
      expect(d.signature).toEqual({ status: 'unknown-key', keyId: stranger.keyId });
      expect(d.notes.join(' ')).toContain('not checked');
      expect(d.learnedKey).toBeUndefined();
    }
  });

  it('trust on first use of a key: learned from the source on the first look only, then required under --require-signed', () => {
    const policy: SignaturePolicy = { pinnedKeys: [], learnedKeys: [], requireSigned: true };
    const log = new ModelLog().events(5).checkpoint(operator);
    // No key offered: nothing to check the signature with.
    expectAlarm(log.look(undefined, policy), 'bad-signature');
    log.keyring.push(operator);
    const first = log.look(undefined, policy);
    expect(verdictOf(first)).toBe('first');
    if (!first.ok || first.verdict === 'no-checkpoint') return;
    expect(first.learnedKey).toEqual(operator.publicKey);
    const remembered = rememberedAfter(first);
    const learned: SignaturePolicy = { ...policy, learnedKeys: [operator.publicKey] };
    // A later checkpoint by a key the source now offers is not learned: it alarms.
    log.keyring.push(stranger);
    log.events(2).checkpoint(stranger);
    expectAlarm(log.look(remembered, learned), 'bad-signature');
    const ok = new ModelLog().events(5).checkpoint(operator).events(2).checkpoint(operator);
    expect(verdictOf(ok.look(remembered, learned))).toBe('advanced');
  });

  it('pinned keys win over an offered key, and over learned ones', () => {
    const log = new ModelLog().events(5).checkpoint(stranger);
    log.keyring.push(stranger);
    expectAlarm(log.look(undefined, pinned), 'bad-signature');
    expectAlarm(log.look(undefined, { ...pinned, learnedKeys: [stranger.publicKey] }), 'bad-signature');
  });
});

describe('parseCheckpointLine', () => {
  const good = canonicalize({ data: { logRoot: 'a'.repeat(64), size: 3, stateRoot: 'b'.repeat(64) }, prev: '0'.repeat(64), seq: 3, ts: '2026-01-01T00:00:00.000Z', type: 'stele.checkpoint', v: 1 });

  it('hashes the exact line and keeps only the checkpoint fields', () => {
    const cp = parseCheckpointLine(sha256, good);
    expect(cp).toEqual({ seq: 3, ts: '2026-01-01T00:00:00.000Z', hash: toHex(sha256(Buffer.from(good))), data: { size: 3, logRoot: 'a'.repeat(64), stateRoot: 'b'.repeat(64) } });
  });

  it('refuses what a writer never writes (STELE_E_EVENT_INVALID)', () => {
    for (const line of [
      good.replace('{', '{ '),
      good.replace('stele.checkpoint', 'kv.put'),
      good.replace('"v":1', '"v":2'),
      canonicalize({ ...JSON.parse(good), data: { ...JSON.parse(good).data, extra: 1 } }),
      good.replace('"a', '"A'),
      'not json',
    ]) {
      expect(() => parseCheckpointLine(sha256, line), line).toThrow(expect.objectContaining({ code: 'STELE_E_EVENT_INVALID' }));
    }
  });
});

describe('decide trusts no proof (a falsified proof never passes)', () => {
  it('flipping any hash of any proof the source gives turns an honest look into an alarm', () => {
    const log = new ModelLog().events(6).checkpoint().events(3);
    const remembered = rememberedAfter(log.look(undefined));
    log.events(7).checkpoint().events(4);
    const latest = log.latest();
    const honest = log.proofs(remembered, latest);
    expect(decide(remembered, latest, honest, noPolicy, monitorCrypto).ok).toBe(true);
    let flips = 0;
    for (const name of ['since', 'checkpoint', 'inclusion'] as const) {
      const proof = honest[name]!;
      for (let i = 0; i < proof.path.length; i++) {
        const path = [...proof.path];
        path[i] = path[i]!.replace(/^./, (c) => (c === '0' ? '1' : '0'));
        const d = decide(remembered, latest, { ...honest, [name]: { ...proof, path } }, noPolicy, monitorCrypto);
        expectAlarm(d, 'rewritten');
        flips++;
      }
      // A path cut short, or padded, fails too.
      expectAlarm(decide(remembered, latest, { ...honest, [name]: { ...proof, path: proof.path.slice(1) } }, noPolicy, monitorCrypto), 'rewritten');
      expectAlarm(decide(remembered, latest, { ...honest, [name]: { ...proof, path: [...proof.path, 'e'.repeat(64)] } }, noPolicy, monitorCrypto), 'rewritten');
    }
    expect(flips).toBeGreaterThan(5);
  });
});

/** A random log: steps of events, each maybe followed by a (signed) checkpoint. */
const steps = fc.array(fc.record({ events: fc.integer({ min: 0, max: 6 }), checkpoint: fc.boolean() }), { minLength: 1, maxLength: 12 });

function build(log: ModelLog, plan: readonly { events: number; checkpoint: boolean }[], signed: boolean, tag = 'v'): ModelLog {
  for (const s of plan) {
    log.events(s.events, tag);
    if (s.checkpoint) log.checkpoint(signed ? operator : undefined);
  }
  return log;
}

describe(`properties (fast-check seed ${seed})`, () => {
  it('honest growth never alarms, and each look says first, unchanged or advanced as it should', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ events: fc.integer({ min: 0, max: 6 }), checkpoint: fc.boolean(), look: fc.boolean() }), { minLength: 1, maxLength: 20 }), fc.boolean(), (plan, signed) => {
        const log = new ModelLog();
        const policy = signed ? pinned : noPolicy;
        let remembered: Remembered | undefined;
        for (const step of plan) {
          log.events(step.events);
          if (step.checkpoint) log.checkpoint(signed ? operator : undefined);
          if (!step.look) continue;
          const d = log.look(remembered, policy);
          expect(d.ok, JSON.stringify(d)).toBe(true);
          const newest = log.latest().checkpoint;
          const expected = newest === undefined ? 'no-checkpoint' : remembered === undefined ? 'first' : newest.seq === remembered.checkpoint.seq ? 'unchanged' : 'advanced';
          expect(d.verdict).toBe(expected);
          if (d.verdict !== 'no-checkpoint') remembered = rememberedAfter(d);
        }
      }),
      { seed, numRuns: 150 },
    );
  });

  it('a truncation below what the monitor saw always alarms (truncated), regrown or not', () => {
    fc.assert(
      fc.property(steps, fc.boolean(), fc.double({ min: 0, max: 1, noNaN: true }), fc.option(steps, { nil: undefined }), (plan, signed, cutAt, regrow) => {
        const log = build(new ModelLog().events(1).checkpoint(signed ? operator : undefined), plan, signed);
        const policy = signed ? pinned : noPolicy;
        const remembered = rememberedAfter(log.look(undefined, policy));
        const keep = Math.floor(cutAt * log.size) % log.size;
        const cut = log.prefix(keep);
        if (regrow === undefined) {
          expectAlarm(cut.look(remembered, policy), 'truncated');
        } else {
          const d = build(cut, regrow, signed, 'regrown').look(remembered, policy);
          expect(d.ok, JSON.stringify(d)).toBe(false);
          expect(['truncated', 'rewritten']).toContain(d.verdict);
        }
      }),
      { seed, numRuns: 150 },
    );
  });

  it('a history regenerated from any point the monitor saw, with a different event, always alarms; rewritten when it is as long', () => {
    fc.assert(
      fc.property(steps, fc.boolean(), fc.double({ min: 0, max: 1, noNaN: true }), steps, (plan, signed, fromAt, continuation) => {
        const log = build(new ModelLog().events(1).checkpoint(signed ? operator : undefined), plan, signed);
        const policy = signed ? pinned : noPolicy;
        const remembered = rememberedAfter(log.look(undefined, policy));
        const from = Math.floor(fromAt * log.size) % log.size;
        // The operator re-signs its regenerated history with its own key: signatures do not help, proofs do.
        const forged = build(log.prefix(from).events(1, 'forged'), continuation, signed, 'forged');
        const d = forged.look(remembered, policy);
        expect(d.ok, JSON.stringify(d)).toBe(false);
        expect(['truncated', 'rewritten']).toContain(d.verdict);
        const newest = forged.latest().checkpoint;
        if (forged.size >= log.size && newest !== undefined && newest.seq >= remembered.checkpoint.seq) expect(d.verdict).toBe('rewritten');
      }),
      { seed, numRuns: 150 },
    );
  });
});
