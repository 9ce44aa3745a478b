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
 *   one to `checkpointEvery`, and on clean close (DESIGN.md §4); with a signing key it
 *   carries `sig` and `keyId` (issue #5), and the public key is in `<data>/keys/`;
 * - module invariants are checked after every request (O(1) checks);
 * - a snapshot is written after a durable batch when `snapshotEvery` events have passed.
 *
 * If a batch fails after its events were applied to the machine (disk full, I/O error), the
 * machine is ahead of the log: it is marked stale and a rebuild by replay starts at once;
 * commands already queued behind the failed batch are refused with its error (they would be
 * decided on the stale state), and later ones wait for the rebuild. Live views are fed only
 * by durable batches; state reads see the stale machine only while the rebuild runs.
 */
import type { Logger } from 'pino';
import type { JsonValue } from '../canonical/json.js';
import { isSteleError, steleError } from '../errors.js';
import type { SteleError } from '../errors.js';
import { ChainVerifier } from '../log/chain.js';
import type { CheckedLine } from '../log/chain.js';
import { openWriter } from '../log/open.js';
import type { OpenedLog } from '../log/open.js';
import type { Ack, AppendInput, AppendOptions, DurableEvent, LogStatus, StampDecision, WriterHooks } from '../log/writer.js';
import type { JsonObject } from '../canonical/json.js';
import type { ValidCommand } from './machine.js';
import { IdempotencyIndex, checkCallerMeta, checkIdempotencyKey, requestHashOf } from './idempotency.js';
import type { IdempotencyRecord } from './idempotency.js';
import { cleanSnapshotTemp, writeSnapshot } from '../store/snapshot-store.js';
import { VaultStore } from '../store/vault-store.js';
import { limits } from '../limits.js';
import type { MachineOptions } from './machine.js';
import { StateMachine } from './machine.js';
import type { LoadedSnapshot, ReplayStats } from './replay.js';
import { isBuiltin, loadSnapshot, replayPaths, replayStats, replayWants } from './replay.js';
import { defaultThreads } from '../log/scan-parallel.js';
import { ReplaySink, checkpointType } from './replay-sink.js';
import { installPublicKey } from '../crypto/keys.js';
import type { PublicKey, SigningKey } from '../crypto/keys.js';
import { ioError } from '../store/file-store.js';
import type { FileOps } from '../store/file-ops.js';
import { signaturePolicy, warnSignatures } from './signatures.js';

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
  /**
   * Called for every line of the startup scan, in order, with its byte offset and length
   * (live views index the whole log, also the part a snapshot covers). Setting it makes the
   * scan parse every line.
   */
  onScanLine?: (checked: CheckedLine, offset: number, lineBytes: number) => void;
  /**
   * Signs every checkpoint this engine writes (`sig`, `keyId`: DESIGN.md §4, issue #5). On
   * open, its public key is installed in `<data>/keys/<keyId>.pub` so that anyone holding the
   * directory can check the signatures.
   */
  signingKey?: SigningKey;
  /** Keys pinned for the startup replay's signature checks, beside the keyring (see ReplayOptions.publicKeys). */
  publicKeys?: readonly PublicKey[];
  /** The log file's operations: node:fs unless a test injects faults (src/store/file-ops.ts). */
  fileOps?: FileOps;
}

/** What a command returns: the acks of its events (none for a no-op) and the module's result. */
export interface CommandResult {
  acks: Ack[];
  result: JsonValue | undefined;
  /** True when this is the first response of an idempotency key, given again. */
  replayed?: boolean;
}

export interface RunOptions extends AppendOptions {
  /**
   * Idempotency key (DESIGN.md §9): the first request with this key runs; a retry with the
   * same `{cmd, data}` gets the first response (also after a restart: the key is in the
   * log); the same key with another request is refused with STELE_E_IDEMPOTENCY_MISMATCH.
   */
  idempotencyKey?: string;
}

/** Called with every durable batch, in log order, before its callers are answered. */
export type DurableListener = (events: readonly DurableEvent[], status: LogStatus) => void;

/** Lines that carry an idempotency key: the replay hands them over even before a snapshot. */
const idempotencyMarker = Buffer.from('"idempotencyKey":');

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
  readonly #idempotency: IdempotencyIndex;
  /** Keys whose first request is being decided or written: a retry waits for it. */
  readonly #inflight = new Map<string, { requestHash: string; promise: Promise<CommandResult> }>();
  readonly #durableListeners = new Set<DurableListener>();

  private constructor(log: OpenedLog, machine: StateMachine, replay: ReplayStats, options: EngineOptions, idempotency: IdempotencyIndex) {
    this.log = log;
    this.#idempotency = idempotency;
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
    const signingKey = options.signingKey;
    const signatures = signaturePolicy(dir, { ...(options.publicKeys === undefined ? {} : { publicKeys: options.publicKeys }), ...(signingKey === undefined ? {} : { ownKey: signingKey }) });
    const sink = new ReplaySink(machine, verifier.frontier, loaded?.base, undefined, signatures);
    // The hooks exist before the writer does (it may append stele.recovered while opening),
    // and reach the engine once it exists.
    const ref: { engine?: Engine } = {};
    let appendedByOpen = 0;
    const idempotency = new IdempotencyIndex();
    const hooks: WriterHooks = {
      stamped: (event) => {
        if (ref.engine !== undefined) return ref.engine.#stamped(event);
        machine.apply(event);
        appendedByOpen++;
      },
      afterRequest: (size, logRoot) => (ref.engine === undefined ? undefined : ref.engine.#afterRequest(size, logRoot)),
      // During the open nothing is served: a failed stele.recovered append fails the open.
      batchFailed: (err) => ref.engine?.batchFailedHook(err),
      durable: (events, status) => {
        for (const { event } of events) idempotency.observe(event.seq, event.hash, event.type, event.data, event.meta);
        ref.engine?.durableHook(events, status);
      },
    };
    const wants = replayWants(machine, loaded);
    const scanStarted = performance.now();
    const log = await openWriter(dir, {
      registry: machine.registry,
      verifier,
      onLine: (checked, offset, lineBytes) => {
        sink.line(checked);
        const e = checked.event;
        if (e.meta !== undefined) idempotency.observe(e.seq, checked.hash, e.type, e.data as JsonObject, e.meta as JsonObject);
        options.onScanLine?.(checked, offset, lineBytes);
      },
      threads: options.threads ?? defaultThreads(),
      builtinRegistry: isBuiltin(options),
      ...(options.parallelBytesMin === undefined ? {} : { parallelBytesMin: options.parallelBytesMin }),
      wants: options.onScanLine === undefined ? (seq, bytes) => wants(seq, bytes) || bytes.includes(idempotencyMarker) : () => true,
      hooks,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
      ...(options.fileOps === undefined ? {} : { fileOps: options.fileOps }),
    });
    try {
      sink.finish(log.writer.status().size - appendedByOpen);
      // Temp files of snapshot or bundle writes a crash interrupted: never read (their names
      // do not match), removed now that this process holds the lock.
      const snapshotTemps = cleanSnapshotTemp(log.paths.dir);
      const vaultTemps = new VaultStore(log.paths.dir, { readOnly: false }).cleanTemp();
      if (snapshotTemps.length + vaultTemps > 0) options.logger?.warn({ snapshotTemps, vaultTemps }, 'removed temp files left by an interrupted write');
      if (signingKey !== undefined) {
        try {
          installPublicKey(log.paths.dir, signingKey);
        } catch (err) {
          throw isSteleError(err) ? err : ioError(err, `${log.paths.dir}/keys/${signingKey.keyId}.pub`, 'install the public key');
        }
      }
    } catch (err) {
      await log.close();
      throw err;
    }
    const head = log.writer.status();
    const stats = replayStats(machine, head, sink, loaded, { snapshot: snapshotMs, scan: performance.now() - scanStarted, total: performance.now() - started });
    const engine = new Engine(log, machine, stats, options, idempotency);
    ref.engine = engine;
    options.logger?.info({ ...stats, ...(signingKey === undefined ? {} : { signingKeyId: signingKey.keyId }) }, 'replay finished; ready');
    if (options.logger !== undefined) warnSignatures(options.logger, stats.checkpoints);
    return engine;
  }

  /** The keyId of the key this engine signs its checkpoints with, if it has one. */
  get signingKeyId(): string | undefined {
    return this.#options.signingKey?.keyId;
  }

  /** Size, roots and head of the durable log, and the state root. */
  status(): { size: number; logRoot: string; headHash: string; lastTs: string; stateRoot: string; entries: number } {
    return { ...this.log.writer.status(), stateRoot: this.machine.stateRoot(), entries: this.machine.entries.size };
  }

  /**
   * Runs one command: validate now (throws on malformed input, nothing written), decide at
   * stamping, resolve once durable. A guard's rejection rejects with STELE_E_REJECTED
   * (`detail.reason`), after its decision record is durable. With `idempotencyKey`, see
   * RunOptions.
   */
  async run(input: unknown, options: RunOptions = {}): Promise<CommandResult> {
    const command = this.check(input, options);
    const key = options.idempotencyKey;
    if (key === undefined) return this.#run(command, undefined, options);
    const requestHash = requestHashOf(command.cmd, (input as { data: unknown }).data);
    const inflight = this.#inflight.get(key);
    if (inflight !== undefined) {
      if (inflight.requestHash !== requestHash) throw idempotencyMismatch(key);
      return { ...(await inflight.promise), replayed: true };
    }
    const record = this.#idempotency.get(key);
    if (record !== undefined) return this.#replay(key, record, requestHash);
    const promise = this.#run(command, { idempotencyKey: key, requestHash }, options);
    this.#inflight.set(key, { requestHash, promise });
    try {
      return await promise;
    } finally {
      this.#inflight.delete(key);
    }
  }

  /**
   * The checks `run` makes before anything is decided or written: the command's name and
   * payload, and with an idempotency key the key and the caller's meta. Throws what `run`
   * would; callers that write something of their own first (a bundle's bytes) call it before.
   */
  check(input: unknown, options: RunOptions = {}): ValidCommand {
    const command = this.machine.validate(input);
    if (options.idempotencyKey !== undefined) checkIdempotencyKey(options.idempotencyKey);
    // Also without a key of its own: meta.idempotencyKey written by a caller would be read
    // back as an idempotency record when the index is rebuilt from the log at the next start,
    // claiming a key another client uses (its retries would get this response, or a mismatch).
    checkCallerMeta(command.meta);
    return command;
  }

  async #run(command: ValidCommand, idempotency: { idempotencyKey: string; requestHash: string } | undefined, options: AppendOptions): Promise<CommandResult> {
    await this.#ready();
    let result: JsonValue | undefined;
    const acks = await this.log.writer.command((seq): StampDecision => {
      // Queued behind a batch that failed after it was applied: this state is not the log's.
      if (this.#stale !== undefined) throw staleError(this.#stale);
      const outcome = this.machine.decide(command, seq);
      const meta: JsonObject | undefined = idempotency === undefined ? command.meta : { ...command.meta, ...idempotency };
      const inputs: AppendInput[] = outcome.events.map((e) => (meta === undefined ? e : { ...e, meta }));
      if (outcome.ok) {
        result = outcome.result;
        // The first event of an idempotent command carries its result: a retry after a
        // restart gets it back from the log.
        if (idempotency !== undefined && result !== undefined && inputs.length > 0) inputs[0] = { ...inputs[0]!, meta: { ...meta, result } };
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

  /** The first response of a key, rebuilt from its record (the log). */
  #replay(key: string, record: IdempotencyRecord, requestHash: string): CommandResult {
    if (record.requestHash !== requestHash) throw idempotencyMismatch(key);
    const r = record.rejection;
    if (r !== undefined) {
      throw steleError('STELE_E_REJECTED', `${r.cmd} was rejected: ${r.message}`, {
        where: { path: r.path ?? 'data' },
        fix: rejectionFix(r.reason),
        detail: { reason: r.reason, cmd: r.cmd, recorded: true, replayed: true },
      });
    }
    // The first acks carried the log size after their batch; batch boundaries are not in the
    // log, so a replay states the log right after the request's last event (the same
    // inclusion, provable against that root).
    const size = record.acks[record.acks.length - 1]!.seq + 1;
    const logRoot = this.log.writer.rootAt(size);
    return { acks: record.acks.map((a) => ({ seq: a.seq, hash: a.hash, size, logRoot })), result: record.result, replayed: true };
  }

  /** Subscribes to durable batches (live views, streams); returns the unsubscribe function. */
  onDurable(listener: DurableListener): () => void {
    this.#durableListeners.add(listener);
    return () => this.#durableListeners.delete(listener);
  }

  /** @internal The writer's durable hook. */
  durableHook(events: readonly DurableEvent[], status: LogStatus): void {
    for (const listener of this.#durableListeners) listener(events, status);
  }

  /** Idempotency keys known (from the log). */
  get idempotencyKeys(): number {
    return this.#idempotency.size;
  }

  /** Appends events directly (only `direct` types: kv.put, kv.delete, application types that allow it). */
  async append(inputs: readonly AppendInput[], options: AppendOptions = {}): Promise<Ack[]> {
    // The same reserved meta fields as commands (see check): a direct append cannot claim a key.
    for (const input of inputs) checkCallerMeta(input.meta as JsonObject | undefined);
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
      // A rebuild after a failed batch reads the log: let it finish before the files close.
      await this.#rebuilding?.catch(() => undefined);
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
    const commitment = { size, logRoot: logRoot(), stateRoot: this.machine.stateRoot() };
    const key = this.#options.signingKey;
    if (key === undefined) return { type: checkpointType, v: 1, data: commitment };
    return { type: checkpointType, v: 1, data: { ...commitment, sig: key.sign(commitment), keyId: key.keyId } };
  }

  /** @internal The writer's batchFailed hook. */
  batchFailedHook(err: unknown): void {
    this.#stale = err;
    this.#options.logger?.error({ err }, 'a batch failed after its events were applied; the state will be rebuilt from the log');
    // Start now, not at the next command: reads should see the durable state again soon. A
    // failure here is logged; the next command retries the rebuild and gets the error.
    this.#startRebuild().catch((rebuildErr: unknown) => this.#options.logger?.error({ err: rebuildErr }, 'rebuilding the state after a failed batch failed'));
  }

  /** True while the in-memory state may hold events of a failed batch (a rebuild is due or running). */
  get stale(): boolean {
    return this.#stale !== undefined;
  }

  /** Resolves once a due rebuild is done (at once when the state is not stale). */
  async settled(): Promise<void> {
    if (this.#stale !== undefined) await this.#startRebuild();
  }

  #startRebuild(): Promise<void> {
    this.#rebuilding ??= this.#rebuild().finally(() => {
      this.#rebuilding = undefined;
    });
    return this.#rebuilding;
  }

  /** Before deciding anything: a stale machine is rebuilt; a due snapshot is written (the state is then exactly the durable log). */
  async #ready(): Promise<void> {
    if (this.#closing) throw steleError('STELE_E_CLOSED', 'the engine is closing', { fix: 'open the data directory again' });
    // A stopped writer (lost lock, fdatasync error, log deleted) refuses everything: say why,
    // rather than the error of a rebuild that may not be possible any more.
    const stopped = this.log.writer.stoppedReason;
    if (stopped !== undefined) throw stopped;
    if (this.#stale !== undefined) await this.#startRebuild();
    if (this.#snapshotDue) {
      this.#snapshotDue = false;
      this.#snapshotting = this.#autoSnapshot().finally(() => {
        this.#snapshotting = undefined;
      });
    }
    // Every caller waits for a due snapshot, not only the one that noticed it: callers then
    // resume in the order they called, and commands are decided in submission order.
    if (this.#snapshotting !== undefined) await this.#snapshotting;
  }

  #snapshotting: Promise<void> | undefined;

  async #autoSnapshot(): Promise<void> {
    await this.log.writer.drain();
    try {
      this.#writeSnapshot();
    } catch (err) {
      this.#options.logger?.error({ err }, 'automatic snapshot failed; continuing without it');
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

function idempotencyMismatch(key: string): SteleError {
  return steleError('STELE_E_IDEMPOTENCY_MISMATCH', `the idempotency key ${key} was already used for a different request`, {
    fix: 'use a new key for a new request; a retry must resend exactly the first {cmd, data}',
  });
}

/** The error of a command queued behind a failed batch: that batch's error when typed. */
function staleError(cause: unknown): SteleError {
  if (isSteleError(cause)) return cause;
  return steleError('STELE_E_IO', `the batch before this command failed: ${String(cause)}`, { fix: 'retry: the state is rebuilt from the log first', cause });
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

