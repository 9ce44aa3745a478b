/**
 * Where and how the benchmarks run: quick mode, the scratch directory for data directories
 * (on the disk the project's data would live on, because durable-append figures are figures
 * of that disk), the file system under it, and a description of the machine for the
 * generated document.
 *
 * Environment:
 * - `STELE_BENCH_QUICK=1`: a ~30 s smoke run with short phases and small logs; its figures
 *   are noisy and `bench/run.ts` does not write them into docs/benchmarks.md by default.
 * - `STELE_BENCH_DIR=DIR`: parent of the scratch directories (default: the OS temp dir).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest folder above this file holding a package.json (bench runs from dist/bench/). */
export const repoRoot = findRepoRoot(path.dirname(fileURLToPath(import.meta.url)));

function findRepoRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return from;
  }
}

export function isQuick(): boolean {
  const v = process.env.STELE_BENCH_QUICK;
  return v !== undefined && v !== '' && v !== '0';
}

/** Parent of the scratch directories. */
export function scratchRoot(): string {
  return path.resolve(process.env.STELE_BENCH_DIR ?? os.tmpdir());
}

/** A new empty scratch directory; the caller removes it with `removeScratch`. */
export function makeScratch(label: string): string {
  return fs.mkdtempSync(path.join(scratchRoot(), `stele-bench-${label}-`));
}

export function removeScratch(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

export interface FileSystemInfo {
  /** e.g. `ext4 on /dev/vda (mounted at /)`. */
  description: string;
  /** Whether the scratch directory is on the same device as the repository. */
  sameDeviceAsRepo: boolean;
}

/**
 * The file system holding `dir`, from /proc/self/mounts (Linux); the mount whose mount point
 * is the longest prefix of the real path wins.
 */
export function fileSystemOf(dir: string): FileSystemInfo {
  const real = fs.realpathSync(dir);
  const sameDeviceAsRepo = fs.statSync(real).dev === fs.statSync(repoRoot).dev;
  let description = 'unknown file system';
  try {
    let best = -1;
    for (const line of fs.readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
      const [device, mountPoint, type] = line.split(' ');
      if (device === undefined || mountPoint === undefined || type === undefined) continue;
      const mp = mountPoint.replace(/\\040/g, ' ');
      const covers = mp === '/' || real === mp || real.startsWith(`${mp}/`);
      if (covers && mp.length > best) {
        best = mp.length;
        description = `${type} on ${device} (mounted at ${mp})`;
      }
    }
  } catch {
    // Not Linux: keep "unknown file system".
  }
  return { description, sameDeviceAsRepo };
}

export interface MachineInfo {
  cpuModel: string;
  cpuCount: number;
  memoryGiB: number;
  os: string;
  node: string;
  loadAverage: number[];
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown CPU',
    cpuCount: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAverage: os.loadavg(),
  };
}

/** The commit the benchmarks were built from, and whether the work tree had changes (read-only git). */
export function sourceRevision(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    return dirty ? `${head} with uncommitted changes` : head;
  } catch {
    return 'unknown revision';
  }
}

/** Resolves after the event loop had a turn, so timers and I/O are not starved between phases. */
export function yieldToLoop(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}
