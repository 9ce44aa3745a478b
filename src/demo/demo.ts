/**
 * `stele demo`: a realistic, deterministic workload for a newcomer's first dashboard (issue
 * #4, item 6). `fillDemo` runs a few thousand commands of the seeded workload generator
 * (src/workload/generate.ts: accounts, transfers with rejected overdrafts, kv writes,
 * executions, blocked attacks, telemetry) plus a handful of vault bundles, which the
 * generator does not make; `startTrickle` then keeps the dashboard alive with a few commands
 * per second.
 *
 * Invariants:
 * - Same seed, same commands, in the same order of decision: the fill submits each window of
 *   commands in one synchronous loop (the writer decides them in submission order and they
 *   share group commits) and awaits the whole window before the next; bundle uploads sit
 *   between windows, at positions fixed by the command count. So two fills of empty logs
 *   give the same events (`type`, `data`) and the same state root; only `ts`, `prev`, and
 *   what depends on them (checkpoints' log roots) differ. Timestamps are the engine's.
 *   This needs the engine to decide commands in submission order, which it does except when
 *   an automatic snapshot (`snapshotEvery`) is due: the first caller then waits for the
 *   drain and the rest of its window overtakes it. Reproducible fills want snapshots off.
 * - Guard rejections are part of the story (overdrafts, a bad close…): they are counted by
 *   reason, never thrown. Any other error stops the fill (after its window settles) or the
 *   trickle.
 * - Only the engine's public API is used (`run`, `status`, `machine` reads, `log.paths`): a
 *   trickle runs beside `stele serve`'s HTTP traffic on the same engine.
 * - The fill refuses a log that already has events: it writes thousands of made-up transfers
 *   and must never be pointed at real data by mistake.
 * - The trickle uses unref'd timers (it never keeps a process alive, never busy-loops) and,
 *   once `stop()` resolves, appends nothing more.
 */
import assert from 'node:assert/strict';
import type { Logger } from 'pino';
import type { JsonObject } from '../canonical/json.js';
import { isSteleError, steleError } from '../errors.js';
import { limits } from '../limits.js';
import { accountStateKey } from '../modules/ledger/state.js';
import type { Engine } from '../runtime/engine.js';
import type { CommandInput } from '../runtime/machine.js';
import { VaultStore } from '../store/vault-store.js';
import type { WorkloadOptions } from '../workload/generate.js';
import { takeCommands, workload } from '../workload/generate.js';

/** Defaults of the demo: small enough to fill in seconds, large enough for a rich dashboard. */
export const demoDefaults = {
  /** The seed of a plain `stele demo`: every newcomer sees the same history. */
  seed: 42,
  /** Workload commands of a fill (bundle uploads come on top). */
  commands: 5_000,
  /** Distinct bundles stored by a fill; every third one is uploaded a second time (deduplicated). */
  bundles: 8,
  /** Commands per second of a live trickle: a table that visibly moves, a chart that is not flat. */
  ratePerSecond: 5,
} as const;

/**
 * The demo's own bounds (candidates for src/limits.ts): options beyond them are mistakes, not
 * demos, and are refused before anything is written.
 */
export const demoLimits = {
  /** Workload commands of one fill: a million take about a minute and fill ~300 MiB. */
  commandsMax: 1_000_000,
  /** Bundles of one fill: each is a few KiB written and fsynced on its own. */
  bundlesMax: 1_000,
  /** Trickle rate: beyond this it is a load test (bench/), not a trickle. */
  ratePerSecondMax: 10_000,
  /** Largest seed: the generator's state is a 32-bit integer. */
  seedMax: 0xffff_ffff,
} as const;

/**
 * Commands submitted together by a fill. They join the same group commits (a handful of
 * fsyncs per window instead of one per command), and awaiting each window bounds the
 * promises and queued commands alive at once.
 */
const windowCommands = 256;
/**
 * The generator's shape for a small, lively system: a couple dozen accounts (histories long
 * enough to read) and a few dozen config keys rewritten often. Customers spend about what
 * they earn (fewer, larger deposits than withdrawals), so balances hover near zero and
 * overdrafts keep being refused: about one command in eight of a fill (seed 42: 603 of 5,010)
 * and a few in a hundred of a trickle after it, instead of only while the accounts are new.
 */
const demoWorkload = { accounts: 24, keys: 40, mix: { deposit: 5, withdraw: 24 } } as const satisfies WorkloadOptions;
/** Rows of one generated bundle: 40 rows of a report or statement make a few KiB. */
const bundleRows = 40;
/**
 * Workload commands a bundle's rows are picked from: a kind of row is as rare as one command
 * in ten (executions and attacks together), so ten times the rows always fill a bundle.
 */
const bundleSampleCommands = bundleRows * 10;
/** Every `bundleRepeatEvery`-th bundle is uploaded a second time, to show deduplication. */
const bundleRepeatEvery = 3;
/** Shortest pause between two trickle ticks: high rates send several commands per tick. */
const trickleTickMsMin = 20;
/**
 * How far (in ms of commands) a trickle catches up after a stall (a blocked event loop, a
 * slow disk): beyond this it drops the backlog instead of sending one large burst.
 */
const trickleCatchUpMsMax = 1_000;
/** Separate seed streams derived from one seed, so the fill, its bundles and a trickle never share commands. */
const seedStreams = { fill: 0, bundle: 1, trickle: 2 } as const;

assert.ok(windowCommands <= limits.batchEventsMax, 'a demo window must fit one group commit');
assert.ok(windowCommands <= limits.requestCommandsMax, 'a demo window is no larger than a request');

export interface DemoOptions {
  /** Default 42: the same seed gives the same commands, hence the same log content except timestamps. */
  seed?: number;
  /** Workload commands, default 5,000 (bundle uploads come on top). */
  commands?: number;
  /** Distinct bundles, default 8: small JSON, CSV and text files generated from the seed; some uploaded twice. */
  bundles?: number;
  logger?: Logger;
  /** Called after each window and each bundle upload with commands done and the total. */
  onProgress?: (done: number, total: number) => void;
}

export interface DemoSummary {
  /** Commands run: the workload's plus one `vault.put` per bundle upload (`accepted + rejected`). */
  commands: number;
  /** Commands accepted (a deduplicated upload or a delete of an absent key is accepted and appends nothing). */
  accepted: number;
  /** Commands refused by a guard, each recorded as `audit.command_rejected`. */
  rejected: number;
  /** Distinct bundles recorded (`vault.bundle_stored` events). */
  bundles: number;
  /** Log size (events) after the fill, with its log root and state root. */
  size: number;
  logRoot: string;
  stateRoot: string;
  /** Rejections by the module's reason code, e.g. `LEDGER_INSUFFICIENT_FUNDS`. */
  rejectedByReason: Record<string, number>;
}

/**
 * Runs the demo workload through an open engine whose log is empty (STELE_E_DATA_DIR_NOT_EMPTY
 * otherwise, nothing written). Commands go in windows of 256 submitted together, so they
 * share group commits and are decided in submission order; bundle uploads (bytes into the
 * vault, then `vault.put`, as `stele bundle put` does) go between windows. Resolves once
 * everything is durable. Throws STELE_E_USAGE for bad options, and the first error other
 * than a guard rejection (after its window settled).
 */
export async function fillDemo(engine: Engine, options: DemoOptions = {}): Promise<DemoSummary> {
  const seed = checkInteger('seed', options.seed ?? demoDefaults.seed, 0, demoLimits.seedMax);
  const count = checkInteger('commands', options.commands ?? demoDefaults.commands, 0, demoLimits.commandsMax);
  const bundleCount = checkInteger('bundles', options.bundles ?? demoDefaults.bundles, 0, demoLimits.bundlesMax);
  const before = engine.status().size;
  if (before > 0) {
    throw steleError('STELE_E_DATA_DIR_NOT_EMPTY', `the log already has ${before} events; the demo fills only an empty log`, {
      where: { file: engine.log.paths.log },
      expected: 'an empty log',
      found: `${before} events`,
      fix: 'run the demo on a new data directory (e.g. stele demo --data ./demo-data); to add live traffic to this one, start only the trickle',
    });
  }
  const logger = options.logger;
  const commands = takeCommands(count, { ...demoWorkload, seed: deriveSeed(seed, seedStreams.fill, 0) });
  const uploads = planUploads(seed, bundleCount, count);
  const total = count + uploads.length;
  const tally = new Tally();
  const vault = new VaultStore(engine.log.paths.dir, { readOnly: false });
  logger?.info({ seed, commands: count, bundles: bundleCount, uploads: uploads.length }, 'demo fill started');
  options.onProgress?.(0, total);

  let next = 0;
  let upload = 0;
  while (next < commands.length || upload < uploads.length) {
    while (upload < uploads.length && uploads[upload]!.at <= next) {
      const planned = uploads[upload++]!;
      const failure = await tally.settle(putBundle(engine, vault, planned.bundle));
      if (failure !== undefined) throw failure;
      options.onProgress?.(next + upload, total);
    }
    const end = Math.min(commands.length, next + windowCommands, uploads[upload]?.at ?? Number.POSITIVE_INFINITY);
    if (end > next) {
      // One synchronous loop: the writer queues (and so decides) them in this order.
      const window = commands.slice(next, end).map((command) => tally.settle(engine.run(command)));
      const failure = (await Promise.all(window)).find((e) => e !== undefined);
      if (failure !== undefined) throw failure;
      next = end;
      options.onProgress?.(next + upload, total);
    }
  }

  const status = engine.status();
  const summary: DemoSummary = {
    commands: tally.accepted + tally.rejected,
    accepted: tally.accepted,
    rejected: tally.rejected,
    bundles: new Set(uploads.map((u) => u.bundle.index)).size,
    size: status.size,
    logRoot: status.logRoot,
    stateRoot: status.stateRoot,
    rejectedByReason: tally.byReasonObject(),
  };
  logger?.info(summary, 'demo fill finished');
  return summary;
}

export interface Trickle {
  /** Stops the trickle and waits for its commands in flight: once resolved, it appends nothing more. */
  stop(): Promise<void>;
  /** Commands submitted so far. */
  readonly sent: number;
  /** Of those, commands a guard refused (expected: overdrafts go on happening). */
  readonly rejected: number;
  /** False once stopped, by `stop()` or by an error other than a rejection (which is logged). */
  readonly running: boolean;
}

export interface TrickleOptions {
  /** Commands per second, default 5 (at most 10,000; fractions allowed, e.g. 0.5). */
  ratePerSecond?: number;
  /** Default 42. The trickle's commands come from their own stream of this seed. */
  seed?: number;
  logger?: Logger;
}

/**
 * Starts a live trickle: `ratePerSecond` commands per second through `engine.run`, continuing
 * the demo workload (same accounts and keys, its own seed stream) until `stop()`. Movement and
 * execution ids are prefixed `live<size>-`, with the log size at the start, and accounts the
 * log already has are not opened again; so a trickle after a fill, or after an earlier
 * trickle, is not refused for reused ids. Rejections are counted; any other error is logged
 * and stops the trickle (an engine that closed underneath stops it quietly). Throws
 * STELE_E_USAGE for bad options.
 */
export function startTrickle(engine: Engine, options: TrickleOptions = {}): Trickle {
  const rate = options.ratePerSecond ?? demoDefaults.ratePerSecond;
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0 || rate > demoLimits.ratePerSecondMax) {
    throw steleError('STELE_E_USAGE', `ratePerSecond must be a number above 0 and at most ${demoLimits.ratePerSecondMax}`, {
      found: String(rate),
      fix: `pass a rate such as ${demoDefaults.ratePerSecond}`,
    });
  }
  const seed = checkInteger('seed', options.seed ?? demoDefaults.seed, 0, demoLimits.seedMax);
  const logger = options.logger;
  const start = engine.status().size;
  const commands = continued(
    workload({ ...demoWorkload, seed: deriveSeed(seed, seedStreams.trickle, start) }),
    `live${start}-`,
    (account) => engine.machine.entries.get(accountStateKey(account)) !== undefined,
  );
  const tickMs = Math.max(trickleTickMsMin, 1000 / rate);
  const tally = new Tally();
  let sent = 0;
  let running = true;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  // The commands due are counted from `origin`, so timer drift does not lower the rate.
  let origin = performance.now();
  let owed = 0;

  const halt = (err: unknown): void => {
    running = false;
    if (isSteleError(err) && err.code === 'STELE_E_CLOSED') logger?.info({ sent }, 'demo trickle stopped: the engine closed');
    else logger?.error({ err, sent }, 'demo trickle stopped by an error');
  };

  const tick = async (): Promise<void> => {
    const now = performance.now();
    const owedMs = (owed * 1000) / rate;
    // Far behind (the process stalled): forget the backlog rather than burst it out.
    if (now - origin - owedMs > trickleCatchUpMsMax) origin = now - owedMs;
    const due = Math.floor(((now - origin) * rate) / 1000) - owed;
    const batch: Promise<Error | undefined>[] = [];
    for (let i = 0; i < due; i++) {
      owed++;
      sent++;
      batch.push(tally.settle(engine.run(commands.next().value)));
    }
    const failure = (await Promise.all(batch)).find((e) => e !== undefined);
    if (failure !== undefined) halt(failure);
  };

  const schedule = (): void => {
    if (!running) return;
    timer = setTimeout(() => {
      timer = undefined;
      inFlight = tick().finally(() => {
        inFlight = undefined;
        schedule();
      });
    }, tickMs);
    timer.unref();
  };

  logger?.info({ ratePerSecond: rate, seed, from: start }, 'demo trickle started');
  schedule();

  return {
    async stop(): Promise<void> {
      running = false;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      await inFlight;
      logger?.info({ sent, rejected: tally.rejected }, 'demo trickle stopped');
    },
    get sent() {
      return sent;
    },
    get rejected() {
      return tally.rejected;
    },
    get running() {
      return running;
    },
  };
}

/** Counts outcomes: accepted, rejected by reason; anything else is returned, not thrown. */
class Tally {
  accepted = 0;
  rejected = 0;
  readonly #byReason = new Map<string, number>();

  /** Resolves with undefined for an accepted or rejected command, with the error otherwise. */
  async settle(run: Promise<unknown>): Promise<Error | undefined> {
    try {
      await run;
      this.accepted++;
      return undefined;
    } catch (err) {
      if (!isSteleError(err) || err.code !== 'STELE_E_REJECTED') return err instanceof Error ? err : new Error(`a demo command failed: ${String(err)}`);
      this.rejected++;
      const reason = typeof err.detail?.['reason'] === 'string' ? err.detail['reason'] : 'unknown';
      this.#byReason.set(reason, (this.#byReason.get(reason) ?? 0) + 1);
      return undefined;
    }
  }

  byReasonObject(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [reason, n] of [...this.#byReason].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) out[reason] = n;
    return out;
  }
}

interface DemoBundle {
  index: number;
  bytes: Uint8Array;
  mediaType: string;
  meta: JsonObject;
}

/**
 * The uploads of a fill, in order, with the workload position each goes before: bundle after
 * bundle, and after every third one a second upload of the one before it (deduplicated: the
 * vault writes nothing, `vault.put` appends nothing and returns the first result). Spread
 * evenly over the workload.
 */
function planUploads(seed: number, bundleCount: number, commandCount: number): { at: number; bundle: DemoBundle }[] {
  const order: DemoBundle[] = [];
  for (let i = 0; i < bundleCount; i++) {
    const bundle = makeBundle(seed, i);
    order.push(bundle);
    if (i % bundleRepeatEvery === bundleRepeatEvery - 1) order.push(order[order.length - 2]!);
  }
  return order.map((bundle, k) => ({ at: Math.floor(((k + 1) * commandCount) / (order.length + 1)), bundle }));
}

/**
 * Bundle `index` of a seed: in turn a JSON settlement report, a CSV statement and a plain-text
 * security digest, made of commands from their own stream of the workload generator (so the
 * content is as deterministic as the log, and no second random generator exists).
 */
function makeBundle(seed: number, index: number): DemoBundle {
  const sample = takeCommands(bundleSampleCommands, { ...demoWorkload, seed: deriveSeed(seed, seedStreams.bundle, index) });
  const number = String(index + 1).padStart(3, '0');
  const encoder = new TextEncoder();
  switch (index % 3) {
    case 0: {
      const transfers = sample.filter((c) => c.cmd === 'ledger.transfer' || c.cmd === 'ledger.deposit').slice(0, bundleRows);
      const report = { report: 'settlement', number: index + 1, seed, entries: transfers.map((c) => ({ kind: c.cmd.slice('ledger.'.length), ...(c.data as JsonObject) })) };
      return { index, bytes: encoder.encode(`${JSON.stringify(report, null, 2)}\n`), mediaType: 'application/json', meta: { name: `reports/settlement-${number}.json`, kind: 'report' } };
    }
    case 1: {
      const rows = sample.filter((c) => c.cmd.startsWith('ledger.') && c.cmd !== 'ledger.open' && c.cmd !== 'ledger.batch').slice(0, bundleRows);
      const lines = rows.map((c) => {
        const d = c.data as Record<string, string>;
        return [d['id'], c.cmd.slice('ledger.'.length), d['from'] ?? d['account'], d['to'] ?? '', d['amount']].join(',');
      });
      return { index, bytes: encoder.encode(['id,kind,from,to,amount', ...lines, ''].join('\n')), mediaType: 'text/csv', meta: { name: `statements/statement-${number}.csv`, kind: 'statement' } };
    }
    default: {
      const events = sample.filter((c) => c.cmd === 'audit.attack' || c.cmd === 'audit.execution').slice(0, bundleRows);
      const lines = events.map((c) => {
        const d = c.data as Record<string, string | number>;
        return c.cmd === 'audit.attack' ? `BLOCKED ${d['type']} at ${d['layer']}, severity ${d['severity']}` : `EXEC    ${d['txId']} ${d['intent']}: ${d['status']} in ${d['elapsedMs']} ms`;
      });
      const text = [`Security digest ${number}`, '', ...lines, ''].join('\n');
      return { index, bytes: encoder.encode(text), mediaType: 'text/plain', meta: { name: `digests/security-${number}.txt`, kind: 'digest' } };
    }
  }
}

/**
 * What `stele bundle put` does (src/cli/bundle.ts): the bytes into the vault first (durable),
 * then `vault.put` with the hash and size the vault computed. A local copy until that
 * sequence is exported for the CLI, the HTTP upload and the demo to share.
 */
async function putBundle(engine: Engine, vault: VaultStore, bundle: DemoBundle): Promise<unknown> {
  const stored = await vault.put(bundle.bytes);
  return engine.run({ cmd: 'vault.put', data: { sha256: stored.sha256, size: stored.size, mediaType: bundle.mediaType, meta: bundle.meta } });
}

/**
 * Continues a workload on a log that may already hold one: movement and execution ids get
 * `prefix` (the generator numbers them from 1 on every start), and `ledger.open` of an
 * account that exists is skipped (the generator opens each account once, before first use).
 */
function* continued(stream: Iterator<CommandInput>, prefix: string, exists: (account: string) => boolean): Generator<CommandInput, never> {
  for (;;) {
    const command = stream.next().value as CommandInput;
    const data = command.data as JsonObject;
    switch (command.cmd) {
      case 'ledger.open':
        if (exists(data['account'] as string)) continue;
        yield command;
        break;
      case 'ledger.deposit':
      case 'ledger.withdraw':
      case 'ledger.transfer':
        yield { ...command, data: { ...data, id: `${prefix}${data['id'] as string}` } };
        break;
      case 'ledger.batch':
        yield {
          ...command,
          data: { ...data, id: `${prefix}${data['id'] as string}`, transfers: (data['transfers'] as JsonObject[]).map((t) => ({ ...t, id: `${prefix}${t['id'] as string}` })) },
        };
        break;
      case 'audit.execution':
        yield { ...command, data: { ...data, txId: `${prefix}${data['txId'] as string}` } };
        break;
      default:
        yield command;
    }
  }
}

/** A seed of its own for `stream` and `index` (a 32-bit multiply-xorshift mix: spreads nearby inputs apart). */
function deriveSeed(seed: number, stream: number, index: number): number {
  let x = (seed ^ Math.imul(stream + 1, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d) >>> 0;
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

function checkInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw steleError('STELE_E_USAGE', `${name} must be an integer from ${min} to ${max}`, { found: String(value), fix: `pass --${name} N with N in ${min}…${max}` });
  }
  return value;
}
