/**
 * The part of Hypercore 11's API that bench/append.ts uses (the package ships no types).
 * `append` resolves once the block is in Hypercore's RocksDB storage, which does not fsync.
 */
declare module 'hypercore' {
  export default class Hypercore {
    constructor(storage: string);
    ready(): Promise<void>;
    append(block: Buffer | Buffer[]): Promise<{ length: number; byteLength: number }>;
    close(): Promise<void>;
  }
}
