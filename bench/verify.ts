/**
 * Benchmark: `stele verify` of a whole log (issue #2).
 *
 * A log of 1,000,000 kv.put events of ~250 bytes (100,000 in quick mode) is generated with
 * `appendBatch` of 1,000 events (not timed). Then `node dist/src/cli/main.js --data DIR verify
 * --json` is timed as a whole process, from spawn to exit (Node start-up included), and its
 * JSON report is checked (ok, size). When the CLI has `--threads`, it is measured with
 * `--threads 1` and with its default.
 *
 * Beside it, in the same run, on the same file (page cache warm for all):
 * - the bare floor of one thread: read the file in 1 MiB chunks, split lines on `\n` and
 *   SHA-256 every line with node:crypto, in this process; no parsing, no checks;
 * - `sha256sum` of the whole file (one hash, not one per line), as an external reference.
 *
 * Target: ≥ 400,000 events/s (both cores may be used).
 *
 * Run standalone: `npx tsc -p tsconfig.build.json && node dist/bench/verify.js`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { hash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { dataPaths, initDataDir, openWriter } from '../src/index.js';
import type { AppendInput } from '../src/index.js';
import { fileSystemOf, isQuick, makeScratch, removeScratch, repoRoot, scratchRoot, yieldToLoop } from './environment.js';
import { printResults } from './report.js';
import type { BenchResult, BenchTarget } from './result.js';
import { findResult } from './result.js';
import { median } from './stats.js';

const scenario = 'verify/log-250B';
const quick = isQuick();
const logEvents = quick ? 100_000 : 1_000_000;
const generateBatchEvents = 1000;
/** Timed runs of each contender; the median is reported. */
const rounds = quick ? 1 : 3;
const valueChars = 67;
const readChunkBytes = 1 << 20;
const targetEventsPerS = 400_000;
const cliPath = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');

export const about =
  `\`stele verify --log-only --json\` (the chain checks of issue #2, no state) of a generated log of ${logEvents.toLocaleString('en-US')} kv.put events, timed as a whole CLI process (start-up included, median of ${rounds}), ` +
  'beside reading the same file and SHA-256 hashing every line in one thread, and `sha256sum` of the whole file. MB = 10^6 bytes; the page cache is warm for every contender.';

const units = { rate: 'events/s', throughput: 'MB/s', seconds: 's' } as const;
const names = {
  floor: 'read + SHA-256 per line, 1 thread, node:crypto',
  sha256sum: 'sha256sum of the whole file',
} as const;

interface LogFile {
  dir: string;
  file: string;
  bytes: number;
  events: number;
}

async function generateLog(): Promise<LogFile> {
  const dir = makeScratch('verify');
  initDataDir(dir);
  const opened = await openWriter(dir);
  const started = performance.now();
  try {
    const value = (i: number): string => {
      const seed = (Math.imul(i + 1, 0x9e3779b1) >>> 0).toString(36);
      return seed.repeat(Math.ceil(valueChars / seed.length)).slice(0, valueChars);
    };
    for (let first = 0; first < logEvents; first += generateBatchEvents) {
      const batch: AppendInput[] = [];
      for (let i = first; i < Math.min(first + generateBatchEvents, logEvents); i++) {
        batch.push({ type: 'kv.put', data: { key: `k${String(i).padStart(12, '0')}`, value: value(i) } });
      }
      await opened.writer.appendBatch(batch);
    }
  } finally {
    await opened.close();
  }
  const file = dataPaths(dir).log;
  const bytes = fs.statSync(file).size;
  progress(`generated ${logEvents.toLocaleString('en-US')} events, ${(bytes / 1e6).toFixed(1)} MB, ${((bytes - logEvents) / logEvents).toFixed(1)} bytes + newline per line, in ${((performance.now() - started) / 1000).toFixed(1)} s (not timed)`);
  return { dir, file, bytes, events: logEvents };
}

/** Runs `command args` to completion; resolves with its stdout and wall time in seconds. */
function timeProcess(command: string, args: readonly string[]): Promise<{ seconds: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => stdout.push(b));
    child.stderr.on('data', (b: Buffer) => stderr.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = (performance.now() - started) / 1000;
      if (code !== 0) reject(new Error(`${command} ${args.join(' ')} exited with ${code}: ${Buffer.concat(stderr).toString().slice(0, 2000)}`));
      else resolve({ seconds, stdout: Buffer.concat(stdout).toString() });
    });
  });
}

interface VerifyRun {
  seconds: number;
  threads: number | undefined;
}

async function timeCliVerify(log: LogFile, extraArgs: readonly string[]): Promise<VerifyRun> {
  const { seconds, stdout } = await timeProcess(process.execPath, [cliPath, '--data', log.dir, 'verify', '--log-only', '--json', ...extraArgs]);
  const report = JSON.parse(stdout) as { ok?: unknown; size?: unknown; threads?: unknown };
  if (report.ok !== true || report.size !== log.events) throw new Error(`stele verify did not report ok for ${log.events} events: ${stdout.slice(0, 500)}`);
  return { seconds, threads: typeof report.threads === 'number' ? report.threads : undefined };
}

/** Seconds to read `file` and SHA-256 each of its lines, in this thread. */
function timeReadAndHash(log: LogFile): number {
  const started = performance.now();
  const fd = fs.openSync(log.file, 'r');
  const chunk = Buffer.alloc(readChunkBytes);
  let carry = Buffer.alloc(0);
  let lines = 0;
  let sink = 0;
  try {
    for (;;) {
      const n = fs.readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      // A line cut by the chunk boundary is carried into the next chunk.
      const buf = carry.length === 0 ? chunk.subarray(0, n) : Buffer.concat([carry, chunk.subarray(0, n)]);
      let start = 0;
      for (let nl = buf.indexOf(10, start); nl !== -1; nl = buf.indexOf(10, start)) {
        sink += hash('sha256', buf.subarray(start, nl), 'binary').charCodeAt(0);
        lines++;
        start = nl + 1;
      }
      carry = Buffer.from(buf.subarray(start));
    }
  } finally {
    fs.closeSync(fd);
  }
  if (lines !== log.events || sink === 0) throw new Error(`read ${lines} lines, expected ${log.events}`);
  return (performance.now() - started) / 1000;
}

function hasSha256sum(): boolean {
  try {
    execFileSync('sha256sum', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function cliHasThreadsFlag(): boolean {
  const help = execFileSync(process.execPath, [cliPath, 'verify', '--help'], { encoding: 'utf8' });
  return help.includes('--threads');
}

function rateResults(name: string, log: LogFile, seconds: number, extra: Partial<BenchResult>): BenchResult[] {
  return [
    { scenario, name, value: Math.round(log.events / seconds), unit: units.rate, ...extra },
    { scenario, name, value: Math.round((log.bytes / 1e6 / seconds) * 10) / 10, unit: units.throughput, ...extra },
    { scenario, name, value: Math.round(seconds * 1000) / 1000, unit: units.seconds, ...extra },
  ];
}

function progress(message: string): void {
  process.stderr.write(`  verify: ${message}\n`);
}

function threadsLabel(threads: number | undefined): string {
  return threads === undefined ? 'threads not reported' : `${threads} thread${threads === 1 ? '' : 's'}`;
}

export async function run(): Promise<BenchResult[]> {
  const fsInfo = fileSystemOf(scratchRoot());
  progress(`data directory under ${scratchRoot()}: ${fsInfo.description}`);
  if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: run npm run build first`);
  const log = await generateLog();
  try {
    const threadsFlag = cliHasThreadsFlag();
    const configs: { label: string; args: string[] }[] = threadsFlag
      ? [
          { label: '--threads 1', args: ['--threads', '1'] },
          { label: 'default', args: [] },
        ]
      : [{ label: 'no --threads flag in this build', args: [] }];
    progress(threadsFlag ? 'the CLI has --threads: measuring --threads 1 and the default' : 'the CLI has no --threads flag: measuring its only mode');
    const withSha256sum = hasSha256sum();
    // Warm the page cache with one untimed pass, so no contender pays for the first read.
    timeReadAndHash(log);
    const cliSeconds = configs.map(() => [] as number[]);
    const cliThreads: (number | undefined)[] = configs.map(() => undefined);
    const floorSeconds: number[] = [];
    const startupSeconds: number[] = [];
    const sumSeconds: number[] = [];
    for (let r = 0; r < rounds; r++) {
      for (const [i, config] of configs.entries()) {
        const v = await timeCliVerify(log, config.args);
        cliSeconds[i]!.push(v.seconds);
        cliThreads[i] = v.threads;
        progress(`stele verify (${config.label}, ${threadsLabel(v.threads)}), round ${r + 1}: ${v.seconds.toFixed(2)} s, ${Math.round(log.events / v.seconds).toLocaleString('en-US')} events/s`);
      }
      startupSeconds.push((await timeProcess(process.execPath, [cliPath, '--version'])).seconds);
      floorSeconds.push(timeReadAndHash(log));
      if (withSha256sum) sumSeconds.push((await timeProcess('sha256sum', [log.file])).seconds);
      await yieldToLoop();
    }
    const note = `whole \`node dist/src/cli/main.js --data DIR verify --json\` process, spawn to exit, start-up included (\`stele --version\` alone takes ${median(startupSeconds).toFixed(2)} s); log of ${log.events.toLocaleString('en-US')} events, ${(log.bytes / 1e6).toFixed(1)} MB, ${((log.bytes - log.events) / log.events).toFixed(1)} bytes + newline per line`;
    const results: BenchResult[] = [];
    configs.forEach((config, i) => {
      const name = `stele verify (CLI), ${threadsFlag ? `${config.label}: ` : ''}${threadsLabel(cliThreads[i])}`;
      results.push(...rateResults(name, log, median(cliSeconds[i]!), { note }));
    });
    results.push(...rateResults(names.floor, log, median(floorSeconds), { baseline: true, note: 'in this process: fs.readSync of 1 MiB chunks, split on newlines, crypto.hash(sha256) per line; no parsing, no checks' }));
    if (withSha256sum) {
      results.push(...rateResults(names.sha256sum, log, median(sumSeconds), { baseline: true, note: 'child process, one SHA-256 over the whole file (not per line); events/s = the log\'s events / its time, for reference' }));
    } else {
      progress('sha256sum not found: its row is left out');
    }
    return results;
  } finally {
    removeScratch(log.dir);
  }
}

export function targets(results: readonly BenchResult[]): BenchTarget[] {
  // The CLI's default mode is measured last: that is what a user gets, and what the target is about.
  const name = results.filter((r) => r.scenario === scenario && r.baseline !== true).at(-1)?.name;
  const rate = name === undefined ? undefined : findResult(results, scenario, name, units.rate);
  if (name === undefined || rate === undefined) return [];
  return [{ scenario, target: `≥ ${targetEventsPerS.toLocaleString('en-US')} events/s verified (both cores may be used)`, measured: `${rate.toLocaleString('en-US')} events/s (${name})`, met: rate >= targetEventsPerS }];
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const results = await run();
  printResults(results, targets(results));
}
