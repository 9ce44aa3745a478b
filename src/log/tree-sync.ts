/**
 * Keeps the derived tree file (`index/tree.hashes`) true to the log during the writer's
 * startup scan: every stored hash the scan computes is compared with the file; from the
 * first missing or wrong hash on, the file is cut and rewritten from the computed hashes.
 * The file is never trusted over the log: it is derived, verified, and rebuilt.
 */
import type { TreeFile } from '../store/tree-file.js';

import { bytesEqual } from '../hash/hex.js';
import type { HashReader } from '../merkle/log-tree.js';

const blockHashes = 4096;

/**
 * Sequential reads of a tree file's stored hashes in blocks of 4,096 (one pread per block):
 * how both the writer's repair (TreeSync) and `stele verify` compare the hashes a scan
 * computes, in order, with the file.
 */
export class StoredHashCursor {
  #block: Uint8Array[] = [];
  #blockStart = 0;

  constructor(private readonly tree: HashReader & { readonly count: number }) {}

  /** The stored hash at `index`, or undefined past the end of the file. */
  at(index: number): Uint8Array | undefined {
    if (index >= this.tree.count) return undefined;
    const at = index - this.#blockStart;
    if (at >= 0 && at < this.#block.length) return this.#block[at];
    const n = Math.min(blockHashes, this.tree.count - index);
    const indexes: number[] = new Array<number>(n);
    for (let i = 0; i < n; i++) indexes[i] = index + i;
    this.#block = this.tree.readHashes(indexes);
    this.#blockStart = index;
    return this.#block[0];
  }
}

export class TreeSync {
  #index = 0;
  #writing = false;
  #pending: Uint8Array[] = [];
  readonly #stored: StoredHashCursor;
  #repair: { fromIndex: number; reason: string } | undefined;

  /** `onWrong` runs before a file that disagrees with the log (not just a short one) is cut. */
  constructor(
    private readonly tree: TreeFile,
    private readonly onWrong?: (fromIndex: number, reason: string) => void,
  ) {
    this.#stored = new StoredHashCursor(tree);
  }

  consume(hashes: readonly Uint8Array[]): void {
    for (const h of hashes) {
      if (!this.#writing) {
        const stored = this.#stored.at(this.#index);
        if (stored !== undefined && bytesEqual(stored, h)) {
          this.#index++;
          continue;
        }
        this.#repair = { fromIndex: this.#index, reason: stored === undefined ? 'missing hashes' : 'wrong hash' };
        if (stored !== undefined) this.onWrong?.(this.#index, 'wrong hash');
        this.tree.truncate(this.#index);
        this.#writing = true;
      }
      this.#pending.push(h);
      this.#index++;
      if (this.#pending.length >= blockHashes) this.#flush();
    }
  }

  /** Ends the scan; `expectedCount` is the stored-hash count of the verified log. */
  finish(expectedCount: number): { fromIndex: number; reason: string } | undefined {
    this.#flush();
    if (!this.#writing && this.tree.count > expectedCount) {
      this.#repair = { fromIndex: expectedCount, reason: 'longer than the log' };
      this.onWrong?.(expectedCount, 'longer than the log');
      this.tree.truncate(expectedCount);
    }
    return this.#repair;
  }

  #flush(): void {
    if (this.#pending.length === 0) return;
    this.tree.append(this.#pending);
    this.#pending = [];
  }
}
