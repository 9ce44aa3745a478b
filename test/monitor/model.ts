/**
 * A log as the monitor's decision sees it, built in memory for the tests: lines (kv events
 * and `stele.checkpoint` lines, optionally signed), the RFC 6962 tree over their hashes, and
 * what an honest source answers (the newest checkpoint, the head, proofs). The chain fields
 * (`prev`, ts order) are not modelled: the decision never reads them.
 */
import crypto from 'node:crypto';
import { canonicalize } from '../../src/canonical/json.js';
import { checkpointMessage } from '../../src/crypto/checkpoint-sig.js';
import { ed25519VerifyNode } from '../../src/crypto/keys.js';
import { toHex } from '../../src/hash/hex.js';
import { sha256 } from '../../src/hash/sha256.js';
import { LogTreeFrontier, MemoryHashStore, proveConsistency, proveInclusion, treeHash } from '../../src/merkle/log-tree.js';
import { formatConsistencyProof, formatInclusionProof } from '../../src/proof/format.js';
import type { Decision, Latest, MonitorCrypto, Proofs, Remembered, SignaturePolicy } from '../../src/monitor/verdict.js';
import { decide, parseCheckpointLine, proofsNeeded } from '../../src/monitor/verdict.js';

export const monitorCrypto: MonitorCrypto = { sha: sha256, verify: ed25519VerifyNode };

export interface TestKey {
  publicKey: Uint8Array;
  keyId: string;
  sign: (message: Uint8Array) => string;
}

/** A key pair from node:crypto, as the raw public key and a signer. */
export function testKey(): TestKey {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  const raw = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(-32));
  return { publicKey: raw, keyId: toHex(sha256(raw)), sign: (message) => crypto.sign(null, message, privateKey).toString('hex') };
}

export const noPolicy: SignaturePolicy = { pinnedKeys: [], learnedKeys: [], requireSigned: false };

export class ModelLog {
  readonly lines: string[] = [];
  readonly #frontier = new LogTreeFrontier(sha256);
  readonly #store = new MemoryHashStore();
  /** The source's keyring: offered for a checkpoint signed by one of these. */
  readonly keyring: TestKey[] = [];

  /** A new log holding the first `count` lines of this one. */
  prefix(count: number): ModelLog {
    const out = new ModelLog();
    out.keyring.push(...this.keyring);
    for (const line of this.lines.slice(0, count)) out.appendLine(line);
    return out;
  }

  get size(): number {
    return this.lines.length;
  }

  root(size = this.size): string {
    return toHex(treeHash(sha256, size, this.#store));
  }

  appendLine(line: string): this {
    this.#store.append(this.#frontier.append(sha256(Buffer.from(line, 'utf8'))));
    this.lines.push(line);
    return this;
  }

  /** `count` kv.put events whose values carry `tag` (different tags: different lines). */
  events(count: number, tag = 'v'): this {
    for (let i = 0; i < count; i++) {
      const seq = this.size;
      this.appendLine(canonicalize({ data: { key: `k${seq}`, value: `${tag}-${seq}` }, prev: '0'.repeat(64), seq, ts: '2026-01-01T00:00:00.000Z', type: 'kv.put', v: 1 }));
    }
    return this;
  }

  /** A checkpoint over the log so far (signed when `key` is given; `tamper` edits its data before it is written). */
  checkpoint(key?: TestKey, tamper?: (data: Record<string, unknown>) => void): this {
    const size = this.size;
    const commitment = { size, logRoot: this.root(), stateRoot: toHex(sha256(Buffer.from(`state ${size} ${this.root()}`))) };
    const data: Record<string, unknown> = key === undefined ? { ...commitment } : { ...commitment, sig: key.sign(checkpointMessage(commitment)), keyId: key.keyId };
    tamper?.(data);
    return this.appendLine(canonicalize({ data, prev: '0'.repeat(64), seq: size, ts: '2026-01-01T00:00:00.000Z', type: 'stele.checkpoint', v: 1 }));
  }

  /** What an honest source answers first. */
  latest(): Latest {
    let line: string | undefined;
    for (let i = this.size - 1; i >= 0 && line === undefined; i--) if (this.lines[i]!.includes('"type":"stele.checkpoint"')) line = this.lines[i];
    const checkpoint = line === undefined ? undefined : parseCheckpointLine(sha256, line);
    const latest: Latest = { head: { size: this.size, logRoot: this.root() }, checkpoint };
    const key = this.keyring.find((k) => k.keyId === checkpoint?.data.keyId);
    if (key !== undefined) latest.offeredKey = key.publicKey;
    return latest;
  }

  /** The proofs an honest source computes for `latest`. */
  proofs(remembered: Remembered | undefined, latest: Latest): Proofs {
    const needed = proofsNeeded(remembered, latest);
    const consistency = (size1: number, size2: number) => formatConsistencyProof(size1, size2, this.root(size1), this.root(size2), proveConsistency(sha256, size1, size2, this.#store));
    const out: Proofs = {};
    if (needed.since !== undefined) out.since = consistency(needed.since.size1, needed.since.size2);
    if (needed.checkpoint !== undefined) out.checkpoint = consistency(needed.checkpoint.size1, needed.checkpoint.size2);
    if (needed.inclusion !== undefined) {
      const { seq, size } = needed.inclusion;
      out.inclusion = formatInclusionProof(seq, size, toHex(sha256(Buffer.from(this.lines[seq]!, 'utf8'))), this.root(size), proveInclusion(sha256, seq, size, this.#store));
    }
    return out;
  }

  /** One look by a monitor remembering `remembered`, against this log served honestly. */
  look(remembered: Remembered | undefined, policy: SignaturePolicy = noPolicy): Decision {
    const latest = this.latest();
    return decide(remembered, latest, this.proofs(remembered, latest), policy, monitorCrypto);
  }
}

/** What the shell remembers after an ok decision. */
export function rememberedAfter(decision: Decision): Remembered {
  if (!decision.ok || decision.verdict === 'no-checkpoint') throw new Error(`nothing to remember after ${decision.verdict}`);
  return { checkpoint: decision.checkpoint, head: decision.head };
}
