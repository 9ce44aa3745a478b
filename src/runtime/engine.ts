/**
 * The engine: a data directory opened for writing with its state machine riding on the
 * log writer. What `stele cmd`, `stele serve` and library users hold.
 *
 * Opening is startup replay (DESIGN.md §6) inside the writer's open: lock, snapshot, one
 * verifying scan that also reduces and checks checkpoints, torn-tail quarantine. Then:
 * - commands are validated on the caller's turn (malformed input writes nothing), decided
 *   when their batch is stamped, against the state including every event before them, and
 *   acknowledged once durable; a guard's rejection is recorded (audit.command_rejected)
 *   and the caller gets STELE_E_REJECTED once that record is durable;
 * - a `stele.checkpoint` is stamped after the request that brings the events since the last
 *   one to `checkpointEvery`, and on clean close (DESIGN.md §4);
 * - module invariants are checked after every request (O(1) checks);
 * - a snapshot is written after a durable batch when `snapshotEvery` events have passed.
 *
 * If a batch fails after its events were applied to the machine (disk full, I/O error), the
 * machine is ahead of the log: it is marked stale and rebuilt by a replay before the next
 * command is decided. Nothing stale is ever served as state.
 */
import type { Logger } from 'pino';
import type { JsonValue } from '../canonical/json.js';
import { steleError } from '../errors.js';
import type { SteleError } from '../errors.js';
import { ChainVerifier } from '../log/chain.js';
import { openWriter } from '../log/open.js';
import type { OpenedLog } from '../log/open.js';
import type { Ack, AppendInput, AppendOptions, StampDecision, WriterHooks } from '../log/writer.js';
import { cleanSnapshotTemp, writeSnapshot } from '../store/snapshot-store.js';
import { VaultStore } from '../store/vault-store.js';
import { limits } from '../limits.js';
import type { MachineOptions } from './machine.js';
import { StateMachine } from './machine.js';
import type { LoadedSnapshot, ReplayStats } from './replay.js';
import { isBuiltin, loadSnapshot, replayPaths, replayStats, replayWants } from './replay.js';
import { defaultThreads } from '../log/scan-parallel.js';
import { ReplaySink, checkpointType } from './replay-sink.js';

/** Events between two checkpoints unless configured (DESIGN.md §4; issue #3 default). */
export const checkpointEveryDefault = 1000;

export interface EngineOptions extends MachineOptions {
  /** Start from the newest usable snapshot (default true). */
  snapshot?: boolean;
  /** Events between checkpoints (default 1,000). */
  checkpointEvery?: number;
  /** Write a snapshot every this many events (0 or absent: never automatically). */
  snapshotEvery?: number;
  logger?: Logger;
  clock?: () => number;
  onProgress?: (bytesRead: number, bytesTotal: number) => void;
  /** Worker threads verifying the log at startup (default: one per core, up to 4; 1 = this thread only). */
  threads?: number;
  /** Smallest log verified with worker threads at startup (default 16 MiB). */
  parallelBytesMin?: number;
}

/** What a command returns: the acks of its events (none for a no-op) and the module's result. */
export interface CommandResult {
  acks: Ack[];
  result: JsonValue | undefined;
}

export class Engine {
  machine: StateMachine;
  readonly log: OpenedLog;
  readonly replay: ReplayStats;
  readonly #options: EngineOptions;
  readonly #checkpointEvery: number;
  readonly #snapshotEvery: number;
  #sinceCheckpoint: number;
  #lastSnapshotSize: number;
  /** Set when a failed batch left the machine ahead of the log. */
  #stale: unknown;
  #rebuilding: Promise<void> | undefined;
  #closing = false;

  private constructor(log: OpenedLog, machine: StateMachine, replay: ReplayStats, options: EngineOptions) {
    this.log = log;
    this.machine = machine;
    this.replay = replay;
    this.#options = options;
    this.#checkpointEvery = options.checkpointEvery ?? checkpointEveryDefault;
    this.#snapshotEvery = options.snapshotEvery ?? 0;
    this.#sinceCheckpoint = replay.eventsSinceCheckpoint;
    this.#lastSnapshotSize = replay.snapshot?.size ?? 0;
  }

  /** Opens a data directory for writing: lock, replay, ready. Damage fails with STELE_E_PANIC naming the first bad line. */
  static async open(dir: string, options: EngineOptions = {}): Promise<Engine> {
    checkEvery('checkpointEvery', options.checkpointEvery, 1);
    checkEvery('snapshotEvery', options.snapshotEvery, 0);
    const started = performance.now();
    const loaded: LoadedSnapshot | undefined = options.snapshot === false ? undefined : loadSnapshot(dir, options);
    const snapshotMs = performance.now() - started;
    const machine = loaded?.machine ?? new StateMachine(options);
    const verifier = new ChainVerifier(machine.registry, { file: 'events.ndjson' });
    const sink = new ReplaySink(machine, verifier.frontier, loaded?.base);
    // The hooks exist before the writer does (it may append stele.recovered while opening),
    // and reach the engine once it exists.
    const ref: { engine?: Engine } = {};
    let appendedByOpen = 0;
    const hooks: WriterHooks = {
      stamped: (event) => {
        if (ref.engine !== undefined) return ref.engine.#stamped(event);
        machine.apply(event);
        appendedByOpen++;
      },
      afterRequest: (size, logRoot) => (ref.engine === undefined ? undefined : ref.engine.#afterRequest(size, logRoot)),
      // During the open nothing is served: a failed stele.recovered append fails the open.
      batchFailed: (err) => ref.engine?.batchFailedHook(err),
    };
    const scanStarted = performance.now();
    const log = await openWriter(dir, {
      registry: machine.registry,
      verifier,
      onLine: (checked) => sink.line(checked),
      threads: options.threads ?? defaultThreads(),
      builtinRegistry: isBuiltin(options),
      ...(options.parallelBytesMin === undefined ? {} : { parallelBytesMin: options.parallelBytesMin }),
      wants: replayWants(machine, loaded),
      hooks,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    });
    try {
      sink.finish(log.writer.status().size - appendedByOpen);
      // Temp files of snapshot or bundle writes a crash interrupted: never read (their names
      // do not match), removed now that this process holds the lock.
      const snapshotTemps = cleanSnapshotTemp(log.paths.dir);
      const vaultTemps = new VaultStore(log.paths.dir, { readOnly: false }).cleanTemp();
      if (snapshotTemps.length + vaultTemps > 0) options.logger?.warn({ snapshotTemps, vaultTemps }, 'removed temp files left by an interrupted write');
    } catch (err) {
      await log.close();
      throw err;
    }
    const head = log.writer.status();
    const stats = replayStats(machine, head, sink, loaded, { snapshot: snapshotMs, scan: performance.now() - scanStarted, total: performance.now() - started });
    const engine = new Engine(log, machine, stats, options);
    ref.engine = engine;
    options.logger?.info(stats, 'replay finished; ready');
    return engine;
  }

  /** Size, roots and head of the durable log, and the state root. */
  status(): { size: number; logRoot: string; headHash: string; lastTs: string; stateRoot: string; entries: number } {
    return { ...this.log.writer.status(), stateRoot: this.machine.stateRoot(), entries: this.machine.entries.size };
  }

  /**
   * Runs one command: validate now (throws on malformed input, nothing written), decide at
   * stamping, resolve once durable. A guard's rejection rejects with STELE_E_REJECTED
   * (`detail.reason`), after its decision record is durable.
   */
  async run(input: unknown, options: AppendOptions = {}): Promise<CommandResult> {
    const command = this.machine.validate(input);
    await this.#ready();
    let result: JsonValue | undefined;
    const acks = await this.log.writer.command((seq): StampDecision => {
      const outcome = this.machine.decide(command, seq);
      const meta = command.meta;
      const inputs: AppendInput[] = outcome.events.map((e) => (meta === undefined ? e : { ...e, meta }));
      if (outcome.ok) {
        result = outcome.result;
        return { inputs };
      }
      const r = outcome.rejection;
      return {
        inputs,
        error: steleError('STELE_E_REJECTED', `${command.cmd} was rejected: ${r.message}`, {
          where: { path: r.path ?? 'data' },
          fix: rejectionFix(r.reason),
          detail: { reason: r.reason, cmd: command.cmd, recorded: inputs.length > 0, ...(r.detail === undefined ? {} : { rejection: r.detail }) },
        }),
      };
    }, options);
    return { acks, result };
  }

  /** Appends events directly (only `direct` types: kv.put, kv.delete, application types that allow it). */
  async append(inputs: readonly AppendInput[], options: AppendOptions = {}): Promise<Ack[]> {
    await this.#ready();
    return this.log.writer.appendBatch(inputs, options);
  }

  /** Writes a snapshot of the durable state now; returns its file. */
  async snapshot(): Promise<string> {
    await this.#ready();
    await this.log.writer.drain();
    return this.#writeSnapshot();
  }

  /** Appends a checkpoint now, unless the last event already is one. */
  async checkpoint(): Promise<Ack | undefined> {
    await this.#ready();
    await this.log.writer.drain();
    if (this.#sinceCheckpoint === 0) return undefined;
    const status = this.log.writer.status();
    return this.log.writer.appendSystem(this.#checkpointInput(status.size, () => status.logRoot));
  }

  /** Clean shutdown: finish queued work, write a checkpoint if events followed the last, release the lock. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    try {
      await this.log.writer.drain();
      if (this.#stale === undefined && this.#sinceCheckpoint > 0) {
        const status = this.log.writer.status();
        await this.log.writer.appendSystem(this.#checkpointInput(status.size, () => status.logRoot)).catch((err: unknown) => {
          this.#options.logger?.error({ err }, 'could not write the shutdown checkpoint');
        });
      }
    } finally {
      await this.log.close();
    }
  }

  #stamped(event: Parameters<WriterHooks['stamped']>[0]): void {
    this.machine.apply(event);
    if (event.type === checkpointType) this.#sinceCheckpoint = 0;
    else this.#sinceCheckpoint++;
  }

  #afterRequest(size: number, logRoot: () => string): AppendInput | undefined {
    const broken = this.machine.checkInvariants();
    if (broken !== undefined) {
      throw steleError('STELE_E_INVARIANT', `a module invariant broke at size ${size}: ${broken}`, { fix: 'this is a bug in a module; the batch was not written. Report it with the command that caused it' });
    }
    if (this.#sinceCheckpoint >= this.#checkpointEvery) return this.#checkpointInput(size, logRoot);
    if (this.#snapshotEvery > 0 && size - this.#lastSnapshotSize >= this.#snapshotEvery) this.#snapshotDue = true;
    return undefined;
  }

  #snapshotDue = false;

  #checkpointInput(size: number, logRoot: () => string): AppendInput {
    return { type: checkpointType, v: 1, data: { size, logRoot: logRoot(), stateRoot: this.machine.stateRoot() } };
  }

  /** @internal The writer's batchFailed hook. */
  batchFailedHook(err: unknown): void {
    this.#stale = err;
    this.#options.logger?.error({ err }, 'a batch failed after its events were applied; the state will be rebuilt from the log');
  }

  /** Before deciding anything: a stale machine is rebuilt; a due snapshot is written (the state is then exactly the durable log). */
  async #ready(): Promise<void> {
    if (this.#closing) throw steleError('STELE_E_CLOSED', 'the engine is closing', { fix: 'open the data directory again' });
    if (this.#stale !== undefined) {
      this.#rebuilding ??= this.#rebuild().finally(() => {
        this.#rebuilding = undefined;
      });
      await this.#rebuilding;
    }
    if (this.#snapshotDue) {
      this.#snapshotDue = false;
      await this.log.writer.drain();
      try {
        this.#writeSnapshot();
      } catch (err) {
        this.#options.logger?.error({ err }, 'automatic snapshot failed; continuing without it');
      }
    }
  }

  async #rebuild(): Promise<void> {
    await this.log.writer.drain();
    const replayed = await replayPaths(this.log.paths, this.#options);
    if (replayed.fault !== undefined) throw panicOf(replayed.fault);
    this.machine = replayed.machine;
    this.#sinceCheckpoint = replayed.stats.eventsSinceCheckpoint;
    this.#stale = undefined;
    this.#options.logger?.warn({ size: replayed.stats.size }, 'state rebuilt from the log after a failed batch');
  }

  #writeSnapshot(): string {
    const status = this.log.writer.status();
    const file = writeSnapshot(this.log.paths.dir, {
      size: status.size,
      headHash: status.headHash,
      headTs: status.lastTs,
      logRoot: status.logRoot,
      stateRoot: this.machine.stateRoot(),
      parts: this.machine.moduleParts(),
      entries: this.machine.entries.entries(),
    });
    this.#lastSnapshotSize = status.size;
    this.#options.logger?.info({ file, size: status.size }, 'snapshot written');
    return file;
  }
}

function checkEvery(name: string, value: number | undefined, min: number): void {
  if (value === undefined) return;
  if (!Number.isSafeInteger(value) || value < min || value > limits.everyEventsMax) {
    throw steleError('STELE_E_USAGE', `${name} must be an integer from ${min} to ${limits.everyEventsMax}`, { found: String(value), fix: `pass --${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} N` });
  }
}

function panicOf(fault: SteleError): SteleError {
  return steleError('STELE_E_PANIC', `the log is damaged: ${fault.message}`, { where: fault.where, fix: 'nothing was changed. Inspect with: stele verify; restore the log from a backup', detail: { fault: fault.toJSON() } });
}

/** What a caller can do about a rejection, by the reason's family. */
function rejectionFix(reason: string): string {
  if (reason.endsWith('_NOT_FOUND')) return 'create it first (e.g. stele cmd ledger.open) or check the id';
  if (reason.endsWith('_CONFLICT')) return 'this id was already used with a different body: use a new id, or resend exactly the first body';
  if (reason.includes('INSUFFICIENT_FUNDS')) return 'deposit first, or open the account with allowNegative';
  return 'the command is well-formed but not allowed in the current state; see the reason code in docs/cli.md';
}

