/**
 * `stele observe`: a read-only process that replays a data directory and follows its log
 * live (DESIGN.md §8). It opens files read-only, takes no lock, and works on a directory it
 * cannot write (a read-only copy or bind mount).
 *
 * Startup: the same replay as everything else (newest usable snapshot, the whole log
 * verified), with every line also indexed into the views and the log tree kept in memory
 * (for inclusion and consistency proofs; 64 bytes per event). Then a `LogTail` hands over
 * each new complete line, which is verified exactly like at startup (chain, canonical form,
 * schema, checkpoints and their signatures, with the same keys) before it reaches the
 * state, the views and the stream.
 *
 * Integrity: a damaged log at startup is served as panic (the state before the first
 * fault, no following). A log that shrinks, is replaced, or changes bytes already read
 * (the last line is re-read before each read; a rolling audit re-hashes every line against
 * the verified leaf hashes, a slice per call), or a new line that does not verify, raises
 * the alarm: status, stream and log say so, and
 * every data route answers 503 STELE_E_INTEGRITY_ALARM rather than serve views of bytes
 * that are no longer there.
 *
 * The same class, without following, serves the read side of `stele serve` in panic mode.
 */
import fs from 'node:fs';
import type { Logger } from 'pino';
import { isSteleError, steleError } from '../errors.js';
import type { SteleError } from '../errors.js';
import { toHex } from '../hash/hex.js';
import { sha256 } from '../hash/sha256.js';
import type { ChainVerifier } from '../log/chain.js';
import { MemoryHashStore, hashLeaf, proveConsistency, proveInclusion, storedHashCount, treeHash } from '../merkle/log-tree.js';
import { formatConsistencyProof, formatInclusionProof } from '../proof/format.js';
import type { ConsistencyProof, InclusionProof } from '../proof/format.js';
import type { StateMachine } from '../runtime/machine.js';
import type { ReplayOptions } from '../runtime/replay.js';
import { replayPaths } from '../runtime/replay.js';
import { ReplaySink } from '../runtime/replay-sink.js';
import type { SignaturePolicy } from '../runtime/replay-sink.js';
import { signaturePolicy } from '../runtime/signatures.js';
import { checkDataDir } from '../store/data-dir.js';
import type { DataPaths } from '../store/data-dir.js';
import { LogReader } from '../store/log-reader.js';
import { VaultStore } from '../store/vault-store.js';
import { LogViews } from '../views/live.js';
import type { ReadSource, Role, StatusView } from '../service/source.js';
import { eventJson } from '../service/source.js';
import { StreamHub } from '../service/stream.js';
import type { StreamEvent } from '../service/stream.js';
import { LogTail } from './tail.js';
import type { TailLine } from './tail.js';

/** Bytes of log one audit call re-hashes (about 30 ms of SHA-256 here): the audit rolls
 * through a large log slice by slice instead of blocking the event loop for seconds. */
export const auditBytesPerRun = 8 * 1024 * 1024;
/** Period of the observer's rolling audit: a 300 MB log is re-hashed every ~75 s. */
export const observerAuditIntervalMsDefault = 2_000;

export interface ObserverOptions extends Pick<ReplayOptions, 'modules' | 'registry' | 'snapshot' | 'threads' | 'parallelBytesMin' | 'publicKeys'> {
  logger?: Logger;
  /** Follow the log live (default true); false serves the replayed state only (serve's panic mode). */
  follow?: boolean;
  /** Poll the file instead of fs.watch (network file systems, some bind mounts). */
  usePolling?: boolean;
  /** Period of the rolling re-hash of already-read bytes (ms; default 2,000; 0 = only when the file changed without growing). */
  auditIntervalMs?: number;
  /** Reported role: `observer`, or `writer` for serve in panic mode. */
  role?: Role;
  onProgress?: (bytesRead: number, bytesTotal: number) => void;
}

export class ObserverSource implements ReadSource {
  readonly role: Role;
  readonly views: LogViews;
  readonly hub: StreamHub;
  readonly vault: VaultStore;
  readonly dataDir: string;
  readonly #paths: DataPaths;
  readonly #machine: StateMachine;
  readonly #verifier: ChainVerifier;
  readonly #sink: ReplaySink;
  readonly #tree: MemoryHashStore;
  readonly #reader: LogReader;
  readonly #logger: Logger | undefined;
  #integrity: StatusView['integrity'];
  #tail: LogTail | undefined;
  #lastCheckpoint: { seq: number } | undefined;

  private constructor(
    paths: DataPaths,
    parts: { machine: StateMachine; verifier: ChainVerifier; tree: MemoryHashStore; views: LogViews; fault: SteleError | undefined; lastCheckpoint: { seq: number } | undefined; signatures: SignaturePolicy },
    options: ObserverOptions,
  ) {
    this.#paths = paths;
    this.dataDir = paths.dir;
    this.role = options.role ?? 'observer';
    this.#machine = parts.machine;
    this.#verifier = parts.verifier;
    this.#tree = parts.tree;
    this.views = parts.views;
    this.#lastCheckpoint = parts.lastCheckpoint;
    this.#logger = options.logger;
    this.#sink = new ReplaySink(parts.machine, parts.verifier.frontier, undefined, undefined, parts.signatures);
    this.vault = new VaultStore(paths.dir, { readOnly: true });
    this.#reader = new LogReader(paths.log);
    this.#integrity = parts.fault === undefined ? { status: 'ok' } : { status: 'panic', fault: parts.fault.toJSON() };
    this.hub = new StreamHub({
      backlog: (after, max) => this.#backlog(after, max),
      size: () => this.views.size,
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
  }

  static async open(dir: string, options: ObserverOptions = {}): Promise<ObserverSource> {
    const paths = checkDataDir(dir, false);
    const views = new LogViews();
    const tree = new MemoryHashStore();
    let lastCheckpoint: { seq: number } | undefined;
    // One policy for the startup replay and the lines that follow: the same keys, and a key a
    // writer installs later is looked up in the keyring when its first checkpoint arrives.
    const signatures = signaturePolicy(paths.dir, options.publicKeys === undefined ? {} : { publicKeys: options.publicKeys });
    const replayed = await replayPaths(paths, {
      ...options,
      signatures,
      afterLine: (checked, _machine, _frontier, at) => {
        tree.append(checked.treeHashes);
        views.addEnvelope(checked.event, at.offset, at.bytes);
        if (checked.event.type === 'stele.checkpoint') lastCheckpoint = { seq: checked.event.seq };
      },
    });
    const observer = new ObserverSource(paths, { machine: replayed.machine, verifier: replayed.scan.verifier, tree, views, fault: replayed.fault, lastCheckpoint, signatures }, options);
    if (replayed.fault !== undefined) {
      options.logger?.error({ fault: replayed.fault.toJSON() }, 'the log is damaged: serving the state before the first fault, not following');
    } else if (options.follow !== false) {
      await observer.#follow(replayed.scan.endOffset, options);
    }
    options.logger?.info({ size: views.size, role: observer.role, following: observer.#tail !== undefined }, 'observer ready');
    return observer;
  }

  async #follow(endOffset: number, options: ObserverOptions): Promise<void> {
    const size = this.views.size;
    const lastLine = size === 0 ? undefined : { offset: this.views.index.locate(size - 1).offset, bytes: Buffer.from(this.lines(size - 1, size)[0]!) };
    this.#tail = new LogTail({
      path: this.#paths.log,
      startOffset: endOffset,
      ...(lastLine === undefined ? {} : { lastLine }),
      onLines: (lines) => this.#onLines(lines),
      onAlarm: (err) => this.#alarm(err),
      audit: () => this.#audit(),
      auditIntervalMs: options.auditIntervalMs ?? observerAuditIntervalMsDefault,
      ...(options.usePolling === undefined ? {} : { usePolling: options.usePolling }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
    await this.#tail.start();
  }

  machine(): StateMachine {
    return this.#machine;
  }

  /** Whether the data routes may answer (not after an integrity alarm). */
  checkServable(): void {
    if (this.#integrity.status !== 'alarm') return;
    throw steleError('STELE_E_INTEGRITY_ALARM', 'the log changed under this observer; its views are no longer served', {
      fix: 'run stele verify on the source data directory; restart the observer once the log is restored',
      detail: { fault: this.#integrity.fault },
    });
  }

  status(): StatusView {
    const head = this.#verifier.head;
    let fileBytes = this.views.endOffset;
    try {
      fileBytes = fs.statSync(this.#paths.log).size;
    } catch {
      // A removed log is reported by the tail's alarm; the lag is then unknown (0).
    }
    const consumed = this.#tail?.offset ?? this.views.endOffset;
    return {
      role: this.role,
      size: head.size,
      logRoot: this.#verifier.logRoot(),
      stateRoot: this.#machine.stateRoot(),
      headHash: head.headHash,
      lastTs: head.lastTs,
      entries: this.#machine.entries.size,
      integrity: this.#integrity,
      lag: { bytes: Math.max(0, fileBytes - consumed), pendingBytes: this.#tail?.pendingBytes ?? 0 },
      indexed: { size: this.views.size },
      checkpoints: { last: this.#lastCheckpoint ?? null, every: null },
    };
  }

  lines(fromSeq: number, toSeq: number): Buffer[] {
    return this.#reader.lines(this.views.index, fromSeq, toSeq);
  }

  proveInclusion(seq: number, size: number): InclusionProof {
    const eventHash = sha256(this.lines(seq, seq + 1)[0]!);
    return formatInclusionProof(seq, size, toHex(eventHash), toHex(treeHash(sha256, size, this.#tree)), proveInclusion(sha256, seq, size, this.#tree));
  }

  proveConsistency(size1: number, size2: number): ConsistencyProof {
    return formatConsistencyProof(size1, size2, toHex(treeHash(sha256, size1, this.#tree)), toHex(treeHash(sha256, size2, this.#tree)), proveConsistency(sha256, size1, size2, this.#tree));
  }

  /** Forces a read of the log now (tests; the watcher does this by itself). */
  async poll(): Promise<void> {
    await this.#tail?.readNow();
  }

  async close(): Promise<void> {
    await this.#tail?.close();
    await this.hub.close();
    this.#reader.close();
  }

  /** New complete lines from the tail: verified like at startup, then reduced, indexed, streamed. */
  #onLines(lines: TailLine[]): void {
    const frames: StreamEvent[] = [];
    // Frames are only for stream clients; a client attaching later resumes from the log.
    const listening = this.hub.clients > 0;
    try {
      for (const { offset, bytes } of lines) {
        const checked = this.#verifier.check(bytes, 0, bytes.length, offset);
        this.#sink.line(checked);
        this.#tree.append(checked.treeHashes);
        const event = checked.event;
        this.views.addEnvelope(event, offset, bytes.length);
        if (event.type === 'stele.checkpoint') this.#lastCheckpoint = { seq: event.seq };
        if (listening) frames.push({ seq: event.seq, json: eventJson(bytes.toString('utf8'), checked.hash) });
      }
    } finally {
      // Lines verified before a fault are real: stream them, then let the fault raise the alarm.
      // The status costs a state root: only computed when someone listens.
      if (frames.length > 0) {
        this.hub.publishEvents(frames);
        this.hub.publishStatus(this.status());
      }
    }
  }

  #alarm(err: SteleError): void {
    this.#integrity = { status: 'alarm', fault: err.toJSON() };
    this.#logger?.error({ alarm: err.toJSON() }, 'INTEGRITY ALARM: the log changed under the observer; data routes now answer 503');
    this.hub.publishAlarm(err.toJSON());
    this.hub.publishStatus(this.status());
  }

  /**
   * Re-hashes a slice of the lines read so far and compares each with the leaf hash the
   * observer verified (from its log tree): catches a byte changed in place anywhere (same
   * size), naming the line. The slice rolls through the log, at most `auditBytesPerRun`
   * per call, so the event loop is never blocked for long; logs smaller than that are
   * checked whole on every call. Called when the file changed without growing, and every
   * audit period.
   */
  #audit(): SteleError | undefined {
    const size = this.views.size;
    if (size === 0) return undefined;
    if (this.#auditSeq >= size) this.#auditSeq = 0;
    const from = this.#auditSeq;
    const index = this.views.index;
    let to = from + 1;
    let bytes = index.locate(from).bytes + 1;
    while (to < size) {
      const next = index.locate(to).bytes + 1;
      if (bytes + next > auditBytesPerRun) break;
      bytes += next;
      to++;
    }
    let lines: Buffer[];
    try {
      lines = this.lines(from, to);
    } catch (err) {
      if (isSteleError(err)) return err;
      return steleError('STELE_E_INTEGRITY_ALARM', `the log could not be re-read: ${(err as Error).message}`, { where: { file: this.#paths.log }, fix: 'check the data directory', detail: { kind: 'removed' } });
    }
    const expected = this.#tree.readHashes(lines.map((_, i) => storedHashCount(from + i)));
    for (let i = 0; i < lines.length; i++) {
      const leaf = hashLeaf(sha256, sha256(lines[i]!));
      if (!bytesEqual(leaf, expected[i]!)) {
        const seq = from + i;
        return steleError('STELE_E_INTEGRITY_ALARM', `line ${seq + 1} (seq ${seq}) changed after the observer verified it`, {
          where: { file: this.#paths.log, line: seq + 1, seq, offset: index.locate(seq).offset },
          fix: 'run stele verify on the source data directory; restart the observer once the log is restored',
          detail: { kind: 'changed' },
        });
      }
    }
    this.#auditSeq = to;
    return undefined;
  }

  /** The next seq the rolling audit re-hashes. */
  #auditSeq = 0;

  async #backlog(after: number, max: number): Promise<StreamEvent[]> {
    const to = Math.min(this.views.size, after + 1 + max);
    return Promise.resolve(this.lines(after + 1, to).map((bytes, i) => ({ seq: after + 1 + i, json: eventJson(bytes.toString('utf8'), toHex(sha256(bytes))) })));
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
