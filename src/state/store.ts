/**
 * The authenticated state (DESIGN.md §3): one map `key → JSON value` and the compact sparse
 * Merkle tree over it, kept in step on every write.
 *
 * Invariants:
 * - the tree holds exactly one leaf per key, with valueHash = SHA-256(JCS(value)) of the
 *   value in the map (a test rebuilds the root from `entries()` and compares);
 * - keys are partitioned by the modules' prefixes; `count(prefix)` is maintained per
 *   registered prefix in O(1), and a write outside every prefix is a programmer error;
 * - values are never mutated after they are stored (reducers return new values), so a
 *   value handed out by `get` stays valid.
 */
import assert from 'node:assert/strict';
import type { JsonValue } from '../canonical/json.js';
import { canonicalize } from '../canonical/json.js';
import { toHex } from '../hash/hex.js';
import { sha256Utf8 } from '../hash/sha256.js';
import type { StateReader, StateWrite } from '../modules/module.js';
import type { StateProof } from './smt.js';
import { StateTree } from './smt.js';

interface Entry {
  value: JsonValue;
  /** SHA-256 of the key, computed once per key (keys are written far more often than created). */
  keyHash: Uint8Array;
}

export class StateStore implements StateReader {
  readonly #entries = new Map<string, Entry>();
  readonly #tree: StateTree;
  readonly #prefixes: readonly string[];
  readonly #counts: Map<string, number>;

  constructor(prefixes: readonly string[], tree: StateTree = new StateTree()) {
    this.#prefixes = prefixes;
    this.#counts = new Map(prefixes.map((p) => [p, 0]));
    this.#tree = tree;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): JsonValue | undefined {
    return this.#entries.get(key)?.value;
  }

  count(prefix: string): number {
    const n = this.#counts.get(prefix);
    assert.ok(n !== undefined, `count of an unregistered prefix ${prefix}`);
    return n;
  }

  list(prefix: string): [string, JsonValue][] {
    const out: [string, JsonValue][] = [];
    for (const [key, entry] of this.#entries) if (key.startsWith(prefix)) out.push([key, entry.value]);
    return out.sort(byKey);
  }

  /** Applies one write: sets (value defined) or deletes (undefined). */
  apply(write: StateWrite): void {
    const existing = this.#entries.get(write.key);
    if (write.value === undefined) {
      if (existing === undefined) return;
      this.#entries.delete(write.key);
      this.#tree.delete(existing.keyHash);
      this.#bump(write.key, -1);
      return;
    }
    const valueHash = sha256Utf8(canonicalize(write.value));
    if (existing === undefined) {
      const keyHash = sha256Utf8(write.key);
      this.#entries.set(write.key, { value: write.value, keyHash });
      this.#tree.set(keyHash, valueHash);
      this.#bump(write.key, 1);
    } else {
      existing.value = write.value;
      this.#tree.set(existing.keyHash, valueHash);
    }
  }

  #bump(key: string, delta: number): void {
    for (const prefix of this.#prefixes) {
      if (key.startsWith(prefix)) {
        this.#counts.set(prefix, this.#counts.get(prefix)! + delta);
        return;
      }
    }
    assert.fail(`state key ${key} is outside every module's prefixes`);
  }

  /** The state root, hex (DESIGN.md §3). Rehashes only the paths changed since the last call. */
  root(): string {
    return toHex(this.#tree.root());
  }

  /** Inclusion proof of `key` (present) or non-inclusion proof (absent), against `root()`. */
  prove(key: string): StateProof {
    return this.#tree.prove(this.#entries.get(key)?.keyHash ?? sha256Utf8(key));
  }

  /** Every entry sorted by key (UTF-16 code unit order, the order of RFC 8785 object keys). */
  entries(): [string, JsonValue][] {
    const out: [string, JsonValue][] = [];
    for (const [key, entry] of this.#entries) out.push([key, entry.value]);
    return out.sort(byKey);
  }

  /**
   * Loads entries into an empty store with one bulk tree build (a snapshot load), much
   * faster than one incremental insert per key. `valueHashes[i]`, when given, must be
   * SHA-256(JCS(entries[i][1])) (a snapshot parser has the canonical text at hand).
   */
  static load(prefixes: readonly string[], entries: readonly (readonly [string, JsonValue])[], valueHashes?: readonly Uint8Array[]): StateStore {
    const map = new Map<string, Entry>();
    const leaves: [Uint8Array, Uint8Array][] = [];
    for (let i = 0; i < entries.length; i++) {
      const [key, value] = entries[i]!;
      const keyHash = sha256Utf8(key);
      map.set(key, { value, keyHash });
      leaves.push([keyHash, valueHashes?.[i] ?? sha256Utf8(canonicalize(value))]);
    }
    const store = new StateStore(prefixes, StateTree.build(leaves));
    for (const [key, entry] of map) {
      store.#entries.set(key, entry);
      store.#bump(key, 1);
    }
    return store;
  }
}

function byKey(a: [string, JsonValue], b: [string, JsonValue]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}
