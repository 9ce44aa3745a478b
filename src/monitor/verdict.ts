/**
 * The monitor's decision (issue #5): what a third party concludes from one look at a log it
 * does not operate. Pure: no I/O, no clock; SHA-256 and Ed25519 verification come in as
 * parameters (CONVENTIONS.md §1), so the same code could run in a browser.
 *
 * What the monitor remembers (its trust anchor) is the last signed checkpoint it verified and
 * the tree head (size, RFC 6962 root) it verified that checkpoint into. Each look gives a new
 * head and the log's newest checkpoint; the monitor then proves, with RFC 9162 proofs the
 * source computes and this module checks against roots it holds itself:
 *
 *   since       consistency(remembered head → new head): nothing it saw was changed or removed
 *               (this covers the remembered checkpoint's own line, which sits inside the head);
 *   checkpoint  consistency(new checkpoint's size → new head): the new head extends what the
 *               new checkpoint signed;
 *   inclusion   the new checkpoint's line (its hash, computed by the monitor) is event
 *               `seq` of the new head.
 *
 * Two prefixes of one verified tree are consistent with each other, so together these prove
 * the remembered checkpoint's log is a prefix of the new checkpoint's (RFC 9162 §2.1.4's
 * consistency between them), plus the checkpoint lines themselves, which a consistency proof
 * between two checkpoints alone would not cover.
 *
 * Verdicts, in the order they are decided:
 *   no-checkpoint  nothing to trust yet (no checkpoint in the log and nothing remembered);
 *   bad-signature  the newest checkpoint's signature is invalid, or the policy requires a
 *                  signature by a trusted key and it has none (unsigned, or another key);
 *   truncated      the log has fewer events than the remembered head, or its newest checkpoint
 *                  is older than the remembered one;
 *   rewritten      the remembered head or checkpoint is not a prefix of what the log is now
 *                  (same size with another root, a failing proof, a replaced checkpoint line,
 *                  a checkpoint that is gone), or the log does not extend its newest checkpoint;
 *   first          trust on first use: nothing remembered, everything above held;
 *   unchanged      the same newest checkpoint (the head may have grown, consistently);
 *   advanced       a newer checkpoint, everything proven.
 * Alarms never tell the shell to advance what it remembers.
 */
import { isCanonical, parseJson } from '../canonical/json.js';
import type { CheckpointData, Ed25519Verify, SignatureCheck } from '../crypto/checkpoint-sig.js';
import { checkCheckpointSignature, keyIdOf } from '../crypto/checkpoint-sig.js';
import { steleError } from '../errors.js';
import type { SteleError } from '../errors.js';
import { fromHex, isHash64, toHex } from '../hash/hex.js';
import type { Sha256 } from '../hash/sha256.js';
import { checkConsistency, checkInclusion, hashLeaf } from '../merkle/log-tree.js';
import type { ConsistencyProof, InclusionProof } from '../proof/format.js';

/** A tree head: a log size and its RFC 6962 root (DESIGN.md §2). */
export interface TreeHead {
  size: number;
  logRoot: string;
}

/** A checkpoint as the monitor sees and remembers it: its position, its line's hash (computed by the monitor), its data. */
export interface MonitoredCheckpoint {
  seq: number;
  ts: string;
  /** SHA-256 of the exact line (the event hash, DESIGN.md §2). */
  hash: string;
  data: CheckpointData;
}

/** What the monitor remembers between looks: the last verified checkpoint and the head it was verified into. */
export interface Remembered {
  checkpoint: MonitoredCheckpoint;
  head: TreeHead;
}

/** One look at the source: its current head and its newest checkpoint at or below it. */
export interface Latest {
  head: TreeHead;
  checkpoint: MonitoredCheckpoint | undefined;
  /**
   * The source's public key for the checkpoint's keyId (its keyring), if it has one. Only
   * ever used on first use without pinned keys (trust on first use), never to replace a key
   * the monitor already trusts.
   */
  offeredKey?: Uint8Array;
}

/** The proofs a decision needs, by sizes; the shell asks the source for exactly these. */
export interface ProofRequests {
  since?: { size1: number; size2: number };
  checkpoint?: { size1: number; size2: number };
  inclusion?: { seq: number; size: number };
}

/** The proofs as the source gave them (only their paths are trusted, and only once they verify). */
export interface Proofs {
  since?: ConsistencyProof;
  checkpoint?: ConsistencyProof;
  inclusion?: InclusionProof;
}

export interface SignaturePolicy {
  /** Keys pinned by the user (`--pubkey`): when any, the only keys trusted, and a signature by one is required. */
  pinnedKeys: readonly Uint8Array[];
  /** Keys learned on first use (recorded in the state file); trusted when nothing is pinned. */
  learnedKeys: readonly Uint8Array[];
  /** Every checkpoint must carry a signature that verifies under a trusted key (`--require-signed`; implied by pinned keys). */
  requireSigned: boolean;
}

export interface MonitorCrypto {
  sha: Sha256;
  verify: Ed25519Verify;
}

export type OkVerdict = 'first' | 'unchanged' | 'advanced';
export type AlarmVerdict = 'truncated' | 'rewritten' | 'bad-signature';
export const alarmVerdicts: readonly AlarmVerdict[] = ['truncated', 'rewritten', 'bad-signature'];

export type Decision =
  | { ok: true; verdict: 'no-checkpoint'; head: TreeHead }
  | {
      ok: true;
      verdict: OkVerdict;
      checkpoint: MonitoredCheckpoint;
      head: TreeHead;
      signature: SignatureCheck;
      /** A key to remember: the source's key, trusted on first use because the checkpoint verified under it. */
      learnedKey?: Uint8Array;
      /** Things worth saying that are not alarms (an unsigned checkpoint, a key not checked). */
      notes: string[];
    }
  | { ok: false; verdict: AlarmVerdict; error: SteleError };

/** The alarm codes, by verdict (src/errors.ts). */
export const alarmCodes = {
  truncated: 'STELE_E_TRUNCATED',
  rewritten: 'STELE_E_HISTORY_REWRITTEN',
  'bad-signature': 'STELE_E_SIGNATURE_INVALID',
} as const;

function bug(message: string): never {
  throw new Error(`stele bug: ${message}`);
}

/** True when the newest checkpoint is the remembered one (same position; the line is compared in `decide`). */
function sameCheckpoint(remembered: Remembered | undefined, cp: MonitoredCheckpoint): boolean {
  return remembered !== undefined && cp.seq === remembered.checkpoint.seq;
}

/** A checkpoint covers the events before it (DESIGN.md §4), and its own line is inside the head. */
function wellFormed(cp: MonitoredCheckpoint, head: TreeHead): boolean {
  return cp.seq === cp.data.size && cp.seq < head.size;
}

/**
 * The proofs `decide` will need for this look. None when the sizes alone already decide
 * (a truncation, a malformed answer).
 */
export function proofsNeeded(remembered: Remembered | undefined, latest: Latest): ProofRequests {
  const { head, checkpoint: cp } = latest;
  if (remembered !== undefined && head.size < remembered.head.size) return {};
  const out: ProofRequests = {};
  if (remembered !== undefined && head.size > remembered.head.size) out.since = { size1: remembered.head.size, size2: head.size };
  if (cp !== undefined && wellFormed(cp, head) && !sameCheckpoint(remembered, cp) && (remembered === undefined || cp.seq > remembered.checkpoint.seq)) {
    out.checkpoint = { size1: cp.data.size, size2: head.size };
    out.inclusion = { seq: cp.seq, size: head.size };
  }
  return out;
}

/** Checks an RFC 9162 §2.1.4.2 consistency proof between two heads the monitor holds; only the proof's path is used. */
function consistent(crypto: MonitorCrypto, from: TreeHead, to: TreeHead, proof: ConsistencyProof | undefined): boolean {
  if (proof === undefined) bug(`decide was not given the consistency proof ${from.size} → ${to.size} that proofsNeeded asked for`);
  const path = proof.path.map((h) => fromHex(h));
  if (path.some((h) => h === undefined)) return false;
  return checkConsistency(crypto.sha, from.size, to.size, fromHex(from.logRoot)!, fromHex(to.logRoot)!, path as Uint8Array[]);
}

/** Checks that event `seq` of `head` has the event hash `eventHash` (RFC 9162 §2.1.3.2); only the proof's path is used. */
function included(crypto: MonitorCrypto, seq: number, eventHash: string, head: TreeHead, proof: InclusionProof | undefined): boolean {
  if (proof === undefined) bug(`decide was not given the inclusion proof of ${seq} in ${head.size} that proofsNeeded asked for`);
  const path = proof.path.map((h) => fromHex(h));
  if (path.some((h) => h === undefined)) return false;
  return checkInclusion(crypto.sha, seq, head.size, hashLeaf(crypto.sha, fromHex(eventHash)!), path as Uint8Array[], fromHex(head.logRoot)!);
}

function short(hash: string): string {
  return `${hash.slice(0, 16)}…`;
}

function describeHead(head: TreeHead): string {
  return `size ${head.size}, root ${head.logRoot}`;
}

function describeCheckpoint(cp: MonitoredCheckpoint): string {
  return `checkpoint seq ${cp.seq} (size ${cp.data.size}, logRoot ${cp.data.logRoot}, line hash ${cp.hash})`;
}

const evidenceFix =
  'keep the state file and this output as evidence: the monitor will not advance past this alarm. Ask the operator why; compare with any copy of the log you hold (stele verify, stele consistency). Only if you accept the new history, move the state file away so the next run trusts the log again on first use';

function alarm(verdict: AlarmVerdict, message: string, init: { expected: string; found: string; fix?: string; detail?: Record<string, unknown> }): Decision {
  return {
    ok: false,
    verdict,
    error: steleError(alarmCodes[verdict], message, { expected: init.expected, found: init.found, fix: init.fix ?? evidenceFix, ...(init.detail === undefined ? {} : { detail: init.detail }) }),
  };
}

interface SignatureOutcome {
  check: SignatureCheck;
  learnedKey?: Uint8Array;
  /** Set when the policy refuses the checkpoint. */
  problem?: { message: string; expected: string; fix: string };
  notes: string[];
}

/**
 * The signature policy (docs/decisions.md, "Issue #5: monitor"):
 * - an invalid signature (malformed, or not verifying under the key it names) is always refused;
 * - trusted keys are the pinned ones, else those learned on first use; on first use without
 *   pinned keys, the source's own key for the checkpoint's keyId is tried and learned if the
 *   signature verifies under it (keyId = SHA-256 of the key, so it cannot be swapped under the same id);
 * - required (pinned keys or --require-signed): unsigned or signed by an untrusted key is refused;
 * - not required: unsigned and untrusted-key checkpoints pass with a note; consistency is still proven.
 */
function checkSignature(crypto: MonitorCrypto, cp: MonitoredCheckpoint, policy: SignaturePolicy, offeredKey: Uint8Array | undefined, firstUse: boolean): SignatureOutcome {
  const pinned = policy.pinnedKeys.length > 0;
  const trusted = pinned ? policy.pinnedKeys : policy.learnedKeys;
  const offer = firstUse && !pinned && offeredKey !== undefined ? [offeredKey] : [];
  const check = checkCheckpointSignature(crypto.verify, crypto.sha, cp.data, [...trusted, ...offer]);
  const required = pinned || policy.requireSigned;
  const keysText = pinned ? 'a key pinned with --pubkey' : 'the key trusted on first use';
  const notes: string[] = [];
  switch (check.status) {
    case 'invalid':
      return {
        check,
        notes,
        problem: {
          message: `the signature of checkpoint seq ${cp.seq} is invalid: ${check.reason}`,
          expected: check.keyId === undefined ? 'a sig and a keyId together' : `an Ed25519 signature by key ${check.keyId} over {logRoot, size, stateRoot}`,
          fix: `${evidenceFix}. A checkpoint whose signature does not verify was not written by the key holder as it stands`,
        },
      };
    case 'unsigned':
      if (required) {
        return {
          check,
          notes,
          problem: {
            message: `checkpoint seq ${cp.seq} is not signed, and this monitor requires ${pinned ? 'a signature by a pinned key' : 'signed checkpoints (--require-signed)'}`,
            expected: `a signature by ${keysText}`,
            fix: `${evidenceFix}. If the operator stopped signing on purpose, ask them why before accepting it`,
          },
        };
      }
      notes.push(`checkpoint seq ${cp.seq} is unsigned: only consistency was checked (pin the operator's key with --pubkey to check signatures)`);
      return { check, notes };
    case 'unknown-key':
      if (required) {
        return {
          check,
          notes,
          problem: {
            message: `checkpoint seq ${cp.seq} is signed by key ${check.keyId}, which this monitor does not trust`,
            expected: `a signature by ${keysText}`,
            fix: `${evidenceFix}. If the operator rotated its key, get the new public key from them out of band and add it with --pubkey${pinned ? '' : ' (or, with --require-signed alone, make sure the source offers the key on first use)'}`,
          },
        };
      }
      notes.push(`checkpoint seq ${cp.seq} is signed by key ${check.keyId}, not checked: no trusted key has that keyId (pin it with --pubkey)`);
      return { check, notes };
    case 'valid': {
      const learned = offer.length === 1 && keyIdOf(crypto.sha, offer[0]!) === check.keyId && !trusted.some((k) => keyIdOf(crypto.sha, k) === check.keyId) ? offer[0] : undefined;
      if (learned !== undefined) notes.push(`trusting key ${check.keyId} on first use: the source offered it and the checkpoint's signature verifies under it`);
      return { check, notes, ...(learned === undefined ? {} : { learnedKey: learned }) };
    }
    default: {
      const never: never = check;
      return never;
    }
  }
}

/**
 * Decides one look (see the file comment for the rules and their order). `proofs` must hold
 * what `proofsNeeded(remembered, latest)` asked for; a missing one is a bug in the caller.
 */
export function decide(remembered: Remembered | undefined, latest: Latest, proofs: Proofs, policy: SignaturePolicy, crypto: MonitorCrypto): Decision {
  const { head, checkpoint: cp } = latest;
  if (cp === undefined) {
    if (remembered === undefined) return { ok: true, verdict: 'no-checkpoint', head };
    if (head.size < remembered.head.size) return truncatedHead(remembered, head);
    return alarm('rewritten', `the log has no checkpoint any more, although it has ${head.size} events and the remembered checkpoint is at seq ${remembered.checkpoint.seq}`, {
      expected: describeCheckpoint(remembered.checkpoint),
      found: `no checkpoint in a log of ${head.size} events`,
    });
  }
  if (!wellFormed(cp, head)) {
    return alarm('rewritten', `the source's newest checkpoint is inconsistent with its own log: seq ${cp.seq}, size ${cp.data.size}, in a log of ${head.size} events`, {
      expected: 'a checkpoint whose seq equals its size (it covers the events before it), inside the log',
      found: `seq ${cp.seq}, size ${cp.data.size}, log size ${head.size}`,
    });
  }

  const signature = checkSignature(crypto, cp, policy, latest.offeredKey, remembered === undefined);
  if (signature.problem !== undefined) {
    return alarm('bad-signature', signature.problem.message, {
      expected: signature.problem.expected,
      found: `${describeCheckpoint(cp)}, sig ${cp.data.sig === undefined ? 'absent' : short(String(cp.data.sig))}, keyId ${cp.data.keyId ?? 'absent'}`,
      fix: signature.problem.fix,
      detail: { signature: signature.check },
    });
  }

  if (remembered !== undefined) {
    if (head.size < remembered.head.size) return truncatedHead(remembered, head);
    if (cp.seq < remembered.checkpoint.seq) {
      return alarm('truncated', `the log's newest checkpoint (seq ${cp.seq}) is older than the remembered one (seq ${remembered.checkpoint.seq}): checkpoints were removed`, {
        expected: `a newest checkpoint at seq ≥ ${remembered.checkpoint.seq}: ${describeCheckpoint(remembered.checkpoint)}`,
        found: describeCheckpoint(cp),
      });
    }
    if (cp.seq === remembered.checkpoint.seq && cp.hash !== remembered.checkpoint.hash) {
      const rootChanged = cp.data.logRoot !== remembered.checkpoint.data.logRoot;
      return alarm('rewritten', `the checkpoint at seq ${cp.seq} was replaced${rootChanged ? ': it commits to another log root for the same events' : ' by another line'}`, {
        expected: describeCheckpoint(remembered.checkpoint),
        found: describeCheckpoint(cp),
      });
    }
    if (head.size === remembered.head.size && head.logRoot !== remembered.head.logRoot) {
      return alarm('rewritten', `the log has the same ${head.size} events as when last checked, but another root: events were changed in place`, {
        expected: describeHead(remembered.head),
        found: describeHead(head),
      });
    }
    if (head.size > remembered.head.size && !consistent(crypto, remembered.head, head, proofs.since)) {
      const claimed = proofs.since?.root1;
      return alarm('rewritten', `the log of ${head.size} events is not an extension of the ${remembered.head.size} events seen before: the consistency proof from the remembered head does not verify (a fork, or history rewritten)`, {
        expected: `an extension of ${describeHead(remembered.head)} (remembered with ${describeCheckpoint(remembered.checkpoint)})`,
        found: `${describeHead(head)}${claimed === undefined || claimed === remembered.head.logRoot ? '' : `; the source's root at size ${remembered.head.size} is now ${claimed}`}`,
      });
    }
  }

  const same = sameCheckpoint(remembered, cp);
  if (!same) {
    if (!consistent(crypto, { size: cp.data.size, logRoot: cp.data.logRoot }, head, proofs.checkpoint)) {
      return alarm('rewritten', `the log does not extend its newest checkpoint: the consistency proof from checkpoint seq ${cp.seq} to the head does not verify (the events it signed were changed)`, {
        expected: `a log extending ${describeCheckpoint(cp)}`,
        found: describeHead(head),
      });
    }
    if (!included(crypto, cp.seq, cp.hash, head, proofs.inclusion)) {
      return alarm('rewritten', `the checkpoint line at seq ${cp.seq} is not the one in the log's tree: the inclusion proof does not verify`, {
        expected: `event ${cp.seq} with hash ${cp.hash} in ${describeHead(head)}`,
        found: `event hash ${proofs.inclusion?.eventHash ?? 'unknown'}`,
      });
    }
  }
  const verdict: OkVerdict = remembered === undefined ? 'first' : same ? 'unchanged' : 'advanced';
  return {
    ok: true,
    verdict,
    checkpoint: cp,
    head,
    signature: signature.check,
    notes: signature.notes,
    ...(signature.learnedKey === undefined ? {} : { learnedKey: signature.learnedKey }),
  };
}

function truncatedHead(remembered: Remembered, head: TreeHead): Decision {
  return alarm('truncated', `the log has ${head.size} events, fewer than the ${remembered.head.size} seen before${head.size <= remembered.checkpoint.seq ? ` (the remembered checkpoint at seq ${remembered.checkpoint.seq} is gone)` : ''}: acknowledged events were removed`, {
    expected: `at least ${describeHead(remembered.head)}`,
    found: describeHead(head),
  });
}

const checkpointDataKeys = new Set(['size', 'logRoot', 'stateRoot', 'sig', 'keyId']);

/**
 * Parses a `stele.checkpoint` line (DESIGN.md §4) strictly: canonical JSON, `type`
 * "stele.checkpoint" at `v` 1, an integer `seq`, a string `ts`, `data` with `size`, `logRoot`,
 * `stateRoot` and optional string `sig`/`keyId` (their form is the signature check's business:
 * a malformed one is reported as a bad signature, not hidden as a parse error), nothing else
 * in `data`. The hash is computed here from the line's bytes, never taken from the source.
 * Anything else: STELE_E_EVENT_INVALID.
 */
export function parseCheckpointLine(sha: Sha256, line: string): MonitoredCheckpoint {
  const malformed = (why: string): never => {
    throw steleError('STELE_E_EVENT_INVALID', `the source's newest checkpoint line is malformed: ${why}`, {
      fix: 'the log is damaged, or the source is not a stele log: run stele verify on a copy',
    });
  };
  if (!isCanonical(line)) malformed('it is not canonical JSON (RFC 8785)');
  const value = parseJson(line);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return malformed('it is not a JSON object');
  if (value['type'] !== 'stele.checkpoint' || value['v'] !== 1) malformed('its type is not stele.checkpoint@1');
  const seq = value['seq'];
  const ts = value['ts'];
  const data = value['data'];
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) return malformed('seq is not an integer ≥ 0');
  if (typeof ts !== 'string') return malformed('ts is not a string');
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return malformed('data is not an object');
  for (const k of Object.keys(data)) if (!checkpointDataKeys.has(k)) malformed(`data has an unknown field ${k}`);
  const { size, logRoot, stateRoot, sig, keyId } = data;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return malformed('data.size is not an integer ≥ 0');
  if (typeof logRoot !== 'string' || !isHash64(logRoot)) return malformed('data.logRoot is not 64 lowercase hex characters');
  if (typeof stateRoot !== 'string' || !isHash64(stateRoot)) return malformed('data.stateRoot is not 64 lowercase hex characters');
  if (sig !== undefined && typeof sig !== 'string') return malformed('data.sig is not a string');
  if (keyId !== undefined && typeof keyId !== 'string') return malformed('data.keyId is not a string');
  return {
    seq,
    ts,
    hash: toHex(sha(new TextEncoder().encode(line))),
    data: { size, logRoot, stateRoot, ...(sig === undefined ? {} : { sig }), ...(keyId === undefined ? {} : { keyId }) },
  };
}
