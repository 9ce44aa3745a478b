/**
 * Keeps the derived tree file (`index/tree.hashes`) true to the log during the writer's
 * startup scan: every stored hash the scan computes is compared with the file; from the
 * first missing or wrong hash on, the file is cut and rewritten from the computed hashes.
 * The file is never trusted over the log: it is derived, verified, and rebuilt.
 */
import type { TreeFile } from '../store/tree-file.js';

const blockHashes = 4096;

export class TreeSync {
  #index = 0;
  #writing = false;
  #pending: Uint8Array[] = [];
  #block: Uint8Array[] = [];
  #blockStart = 0;
  #repair: { fromIndex: number; reason: string } | undefined;

  /** `onWrong` runs before a file that disagrees with the log (not just a short one) is cut. */
  constructor(
    private readonly tree: TreeFile,
    private readonly onWrong?: (fromIndex: number, reason: string) => void,
  ) {}

  consume(hashes: readonly Uint8Array[]): void {
    for (const h of hashes) {
      if (!this.#writing) {
        const stored = this.#stored(this.#index);
        if (stored !== undefined && equal(stored, h)) {
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

  #stored(index: number): Uint8Array | undefined {
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

  #flush(): void {
    if (this.#pending.length === 0) return;
    this.tree.append(this.#pending);
    this.#pending = [];
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
