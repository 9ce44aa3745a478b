/**
 * The observer's live follower of `events.ndjson` (DESIGN.md §9, issue #4): after the startup
 * replay has consumed the log up to `startOffset`, it reads only the bytes appended since,
 * hands complete lines to the observer in file order, and raises an integrity alarm instead
 * of letting the observer serve views of a log that changed under it.
 *
 * Invariants:
 * - Read-only: the log is opened with flag `'r'` and nothing else is ever opened, created or
 *   locked, so the tail works on a read-only copy (bind mount, rsync target, 0555 directory).
 * - Only appended bytes are read: each read is positioned at `offset + pendingBytes`, up to the
 *   size the preceding stat saw. The only re-reads are the cheap checks of the witness (the
 *   last consumed line) and of the held partial line, and whatever `audit` chooses to do.
 * - Lines are delivered exactly once, in file order, each as a copy the observer may keep;
 *   `offset` only ever moves forward, by whole lines (`line.offset + bytes + 1`).
 * - A partial last line is held in memory (at most `limits.lineBytesMax` bytes; more is an
 *   alarm) until its `\n` arrives.
 * - Reads are serialised: one at a time, and requests made while one runs are coalesced into
 *   the next one.
 * - The alarm is final: `onAlarm` is called at most once, and after it there are no more
 *   `onLines` calls, no watcher, no timer and no open file.
 *
 * What is guarded: consumed bytes. The file must keep its identity (device + inode), never be
 * shorter than the consumed offset, keep the witness line byte for byte, and pass `audit`
 * (the observer's deep re-hash of everything consumed). Held partial bytes are NOT guarded the
 * same way: the writer never acknowledged them, and a restarted writer legitimately cuts a torn
 * last line away (src/log/open.ts moves it to quarantine) and writes other bytes there. So a
 * held partial line that shrank or changed is dropped and read again from `offset`; the
 * observer's chain verifier still checks that whatever arrives there links to the witness.
 *
 * This file does no JSON parsing and no hashing: checking what the lines say is the observer's
 * job, through `onLines` (which may throw a SteleError) and `audit`.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { BigIntStats } from 'node:fs';
import { watch } from 'chokidar';
import type { FSWatcher } from 'chokidar';
import { isSteleError, steleError } from '../errors.js';
import type { SteleError } from '../errors.js';
import { limits } from '../limits.js';
import type { Logger } from '../logger.js';

/** How often the tail reads even without a watcher event: fs.watch can coalesce or miss events
 * (a watch on a replaced inode, an overflowing inotify queue), so this bounds how late a missed
 * append is seen, at the price of one stat per second. */
export const safetyPollMs = 1000;
/** Bytes read per call: a backlog after a pause is caught up in few syscalls, while one batch
 * handed to `onLines` stays small enough (about a thousand typical events) that the observer's
 * event loop keeps answering requests during a catch-up. */
export const readChunkBytes = 256 * 1024;
/** Default period of the observer's deep `audit` of already-read bytes: a full re-hash is too
 * costly to run on every event, and tampering that keeps size and mtime is found within this. */
export const auditIntervalMsDefault = 60_000;
/** Default interval of chokidar's stat polling (bind mounts, network file systems). */
export const pollIntervalMsDefault = 100;

assert.ok(readChunkBytes >= limits.lineBytesMax, 'a maximal line must span at most two reads');

/** The fix of every integrity alarm: the tail cannot repair anything, only refuse to go on. */
export const integrityAlarmFix = 'the log was changed under the observer; run stele verify on the source; restart the observer once the log is restored';

/** Why the tail raised its alarm (`detail.kind` of the STELE_E_INTEGRITY_ALARM). */
export type AlarmKind = 'shrank' | 'replaced' | 'changed' | 'removed' | 'invalid';

/** One complete line, without its `\n`, starting at byte `offset` of the log. */
export interface TailLine {
  offset: number;
  bytes: Buffer;
}

export interface TailOptions {
  /** The log file. */
  path: string;
  /** Bytes already consumed by the startup replay; always at a line boundary. */
  startOffset: number;
  /** The last complete line the replay consumed (the witness), if any: it must end exactly at
   * `startOffset` (its `\n` is the byte before). */
  lastLine?: { offset: number; bytes: Buffer };
  /** Complete new lines, in file order, in batches. Throwing a SteleError raises the alarm
   * (kind `invalid`, the error in `detail.fault`; `offset` stays at the refused batch's first
   * line); throwing anything else is a bug and propagates. */
  onLines: (lines: TailLine[]) => void;
  /** Called at most once, once the tail has stopped reading (its watcher and file are released
   * right after); the observer keeps serving its last good views, marked alarmed. */
  onAlarm: (err: SteleError) => void;
  /** Deep check of already-read bytes, supplied by the observer (it re-hashes lines against its
   * tree). Called when the file changed without growing (same size, new mtime or ctime) and
   * every `auditIntervalMs`. Returning an error raises the alarm (kind `changed`). */
  audit?: () => SteleError | undefined;
  /** Period of the audit; default `auditIntervalMsDefault`; 0 = never periodically. */
  auditIntervalMs?: number;
  /** Use chokidar's stat polling instead of fs.watch (bind mounts, network file systems). */
  usePolling?: boolean;
  /** Polling interval when polling; default `pollIntervalMsDefault`. */
  pollIntervalMs?: number;
  logger?: Logger;
}

/** What the tail knows of the file from its last look at it. */
interface Seen {
  dev: bigint;
  ino: bigint;
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export class LogTail {
  readonly #options: TailOptions;
  readonly #file: string;
  #offset: number;
  /** Bytes after `#offset` read but not yet ended by `\n`. */
  #pending: Buffer = Buffer.alloc(0);
  /** The last consumed line, re-read on every step to notice in-place changes cheaply. */
  #witness: { offset: number; bytes: Buffer } | undefined;
  #handle: fs.promises.FileHandle | undefined;
  #seen: Seen | undefined;
  #watcher: FSWatcher | undefined;
  #safetyTimer: NodeJS.Timeout | undefined;
  #auditTimer: NodeJS.Timeout | undefined;
  /** Steps run one after another on this chain; it never rejects. */
  #chain: Promise<void> = Promise.resolve();
  /** A step requested but not yet started: later requests join it instead of queueing more. */
  #queued: Promise<void> | undefined;
  #auditDue = false;
  #started = false;
  #closed = false;
  #alarmed = false;
  /** Resolved when the tail stops (close or alarm), so start() never waits on a closed watcher. */
  readonly #stopSignal: Promise<void>;
  #signalStop: () => void = () => undefined;
  /** Set while reads fail with an I/O error, so a persistent error is logged once, not per poll. */
  #ioFailing = false;

  constructor(options: TailOptions) {
    assert.ok(Number.isSafeInteger(options.startOffset) && options.startOffset >= 0, 'startOffset must be a byte offset');
    if (options.lastLine !== undefined) {
      assert.equal(options.lastLine.offset + options.lastLine.bytes.length + 1, options.startOffset, 'the witness must end at startOffset');
    }
    assert.ok(options.auditIntervalMs === undefined || options.auditIntervalMs >= 0, 'auditIntervalMs must be >= 0');
    this.#options = options;
    this.#file = options.path;
    this.#offset = options.startOffset;
    this.#witness = options.lastLine === undefined ? undefined : { offset: options.lastLine.offset, bytes: Buffer.from(options.lastLine.bytes) };
    this.#stopSignal = new Promise<void>((resolve) => {
      this.#signalStop = resolve;
    });
  }

  /** Bytes consumed as complete lines. */
  get offset(): number {
    return this.#offset;
  }

  /** Bytes of the held partial last line. */
  get pendingBytes(): number {
    return this.#pending.length;
  }

  /**
   * Opens the log read-only, starts watching it and reads what was appended since the replay.
   * Resolves once the watcher is ready and that catch-up read is done (or the alarm raised: a
   * log already gone or changed is an alarm, not a failure of start). Rejects only when the log
   * cannot be opened for reading for another reason (permissions, I/O).
   */
  async start(): Promise<void> {
    assert.ok(!this.#started, 'LogTail.start called twice');
    this.#started = true;
    try {
      // The only open of the tail, and it is read-only: no write, no create, no lock.
      this.#handle = await fs.promises.open(this.#file, 'r');
      this.#seen = toSeen(await this.#handle.stat({ bigint: true }));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') {
        await this.#raise(alarm('removed', 'the log is gone: it was deleted after the replay read it', this.#file, this.#offset));
        return;
      }
      await this.#closeHandle();
      throw readError(err, this.#file, 'open', undefined);
    }
    if (this.#closed) {
      await this.#closeHandle();
      return;
    }

    // The watcher is ready before the catch-up read, so an append landing during that read
    // raises an event (or is seen by the safety poll) rather than being missed.
    const watcher = watch(this.#file, {
      persistent: true,
      ignoreInitial: true,
      awaitWriteFinish: false,
      atomic: false,
      usePolling: this.#options.usePolling ?? false,
      interval: this.#options.pollIntervalMs ?? pollIntervalMsDefault,
      binaryInterval: this.#options.pollIntervalMs ?? pollIntervalMsDefault,
    });
    this.#watcher = watcher;
    // All events go through the same step, which decides from a fresh stat what happened: an
    // `unlink` followed at once by a re-creation is then seen as `replaced`, not `removed`.
    // `raw` (every fs.watch / fs.watchFile notification) is what keeps delivery prompt: chokidar
    // drops a `change` that follows another within 5 ms, and one whose coarse mtime did not move
    // while the atime did (our own read), so a burst of appends would otherwise wait for the
    // safety poll (measured: the last of 2,000 rapid appends arrived ~1 s late).
    watcher.on('raw', () => this.#onEvent());
    watcher.on('change', () => this.#onEvent());
    watcher.on('add', () => this.#onEvent());
    watcher.on('unlink', () => this.#onEvent());
    watcher.on('error', (err: unknown) => {
      this.#options.logger?.warn({ err, file: this.#file }, 'log watcher error; the safety poll goes on reading');
      this.#onEvent();
    });
    await Promise.race([new Promise<void>((resolve) => watcher.once('ready', () => resolve())), this.#stopSignal]);
    if (this.#stopped()) return;

    this.#safetyTimer = setInterval(() => void this.readNow(), safetyPollMs);
    this.#safetyTimer.unref();
    const auditIntervalMs = this.#options.auditIntervalMs ?? auditIntervalMsDefault;
    if (this.#options.audit !== undefined && auditIntervalMs > 0) {
      this.#auditTimer = setInterval(() => void this.#enqueue(true), auditIntervalMs);
      this.#auditTimer.unref();
    }
    this.#options.logger?.info({ file: this.#file, offset: this.#offset, polling: this.#options.usePolling ?? false }, 'following the log');
    await this.readNow();
  }

  /**
   * Reads whatever is new now. Serialised: it runs after the step in progress, and calls made
   * before that next step starts share it. Resolves when a step that started after this call
   * has finished; never rejects for I/O or integrity faults (those are logged or alarmed).
   */
  readNow(): Promise<void> {
    assert.ok(this.#started, 'LogTail.readNow called before start');
    return this.#enqueue(false);
  }

  /** Stops watching and reading and closes the file. Idempotent; no alarm is raised. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#signalStop();
    this.#stopTimers();
    await this.#closeWatcher();
    await this.#chain;
    await this.#closeHandle();
  }

  #onEvent(): void {
    if (this.#stopped()) return;
    void this.readNow();
  }

  #enqueue(audit: boolean): Promise<void> {
    if (audit) this.#auditDue = true;
    if (this.#queued !== undefined) return this.#queued;
    const run = this.#chain.then(() => {
      this.#queued = undefined;
      return this.#step();
    });
    this.#queued = run;
    // A rejected step is a bug (a non-SteleError thrown by a callback); it reaches the caller of
    // readNow, and the chain goes on so close() still completes.
    this.#chain = run.catch(() => undefined);
    return run;
  }

  #stopped(): boolean {
    return this.#closed || this.#alarmed;
  }

  /** One look at the file: identity, size, witness, audit, then the new bytes. */
  async #step(): Promise<void> {
    const auditDue = this.#auditDue;
    this.#auditDue = false;
    if (this.#stopped()) return;
    const handle = this.#handle;
    const before = this.#seen;
    // A read asked for while start() is still opening the log: start's own catch-up covers it.
    if (handle === undefined || before === undefined) return;

    let now: Seen;
    try {
      now = toSeen(await fs.promises.stat(this.#file, { bigint: true }));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') {
        return this.#raise(alarm('removed', 'the log was deleted under the observer', this.#file, this.#offset));
      }
      return this.#ioFailed(readError(err, this.#file, 'stat', undefined));
    }
    if (this.#stopped()) return;
    if (now.dev !== before.dev || now.ino !== before.ino) {
      return this.#raise(
        alarm('replaced', 'the log was replaced under the observer (another file now has its name)', this.#file, this.#offset, {
          expected: `device ${before.dev} inode ${before.ino}`,
          found: `device ${now.dev} inode ${now.ino}`,
        }),
      );
    }
    if (now.size < this.#offset) {
      return this.#raise(
        alarm('shrank', `the log shrank under the observer to ${now.size} bytes; ${this.#offset} bytes were already read`, this.#file, now.size, {
          expected: `at least ${this.#offset} bytes`,
          found: `${now.size} bytes`,
        }),
      );
    }

    try {
      const changed = await this.#checkReadBytes(handle);
      if (changed !== undefined) return this.#raise(changed);
      if (this.#stopped()) return;

      // Appends always grow the file, so a new mtime or ctime at the same size means bytes were
      // rewritten in place: exactly what the deep audit is for. (Timestamps are coarse, so a
      // rewrite can also go unnoticed here; the periodic audit covers that.)
      const rewritten = now.size === before.size && (now.mtimeNs !== before.mtimeNs || now.ctimeNs !== before.ctimeNs);
      if ((rewritten || auditDue) && this.#options.audit !== undefined) {
        const fault = this.#runAudit(this.#options.audit);
        if (fault !== undefined) return this.#raise(fault);
      }
      this.#seen = now;

      await this.#readAppended(handle, now.size);
    } catch (err) {
      if (isSteleError(err) && err.code === 'STELE_E_IO') return this.#ioFailed(err);
      throw err;
    }
    if (this.#ioFailing && !this.#stopped()) {
      this.#ioFailing = false;
      this.#options.logger?.info({ file: this.#file, offset: this.#offset }, 'reading the log again');
    }
  }

  /**
   * Re-reads the witness line with its `\n` and the held partial line in one read, and compares
   * them with what was read before. Returns the alarm when the witness changed; drops the held
   * partial line (see the file comment) when only it changed or was cut (the read then comes
   * back short).
   */
  async #checkReadBytes(handle: fs.promises.FileHandle): Promise<SteleError | undefined> {
    const witness = this.#witness;
    const from = witness?.offset ?? this.#offset;
    const to = this.#offset + this.#pending.length;
    if (to === from) return undefined;
    const found = await readExactly(handle, from, to - from, this.#file);
    if (witness !== undefined) {
      const expected = Buffer.concat([witness.bytes, Buffer.from('\n')]);
      const at = firstDifference(expected, found.subarray(0, expected.length));
      if (at !== -1) {
        return alarm('changed', 'the last line the observer read was changed in place', this.#file, witness.offset + at, {
          expected: `byte 0x${hexByte(expected[at])}`,
          found: at < found.length ? `byte 0x${hexByte(found[at])}` : 'end of file',
          detail: { lineOffset: witness.offset },
        });
      }
    }
    if (this.#pending.length > 0 && !found.subarray(this.#offset - from).equals(this.#pending)) {
      this.#dropPending();
    }
    return undefined;
  }

  /** Reads [offset + pending, size) in chunks and delivers the complete lines of each chunk. */
  async #readAppended(handle: fs.promises.FileHandle, size: number): Promise<void> {
    let position = this.#offset + this.#pending.length;
    while (position < size && !this.#stopped()) {
      const chunk = await readExactly(handle, position, Math.min(readChunkBytes, size - position), this.#file);
      position += chunk.length;
      const lines: TailLine[] = [];
      let lineStart = this.#offset;
      let from = 0;
      let overlong: SteleError | undefined;
      for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, from)) {
        const length = this.#pending.length + (nl - from);
        if (length > limits.lineBytesMax) {
          overlong = lineTooLarge(this.#file, lineStart, length);
          break;
        }
        // Copies, so the observer may keep a line without pinning a whole read buffer.
        const bytes = this.#pending.length === 0 ? Buffer.from(chunk.subarray(from, nl)) : Buffer.concat([this.#pending, chunk.subarray(from, nl)]);
        this.#pending = Buffer.alloc(0);
        lines.push({ offset: lineStart, bytes });
        lineStart += length + 1;
        from = nl + 1;
      }
      if (overlong === undefined && this.#pending.length + (chunk.length - from) > limits.lineBytesMax) {
        // Raised now rather than when the `\n` comes: a line this long is invalid however it
        // ends, and holding it would let a damaged log make the observer buffer without bound.
        overlong = lineTooLarge(this.#file, lineStart, this.#pending.length + (chunk.length - from));
      }
      if (overlong === undefined && from < chunk.length) {
        this.#pending = Buffer.concat([this.#pending, chunk.subarray(from)]);
      }
      if (lines.length > 0) {
        const refused = this.#deliver(lines);
        if (refused !== undefined) return this.#raise(refused);
        const last = lines[lines.length - 1]!;
        this.#offset = lineStart;
        this.#witness = last;
      }
      if (overlong !== undefined) return this.#raise(wrapFault('invalid', 'the log holds a line longer than the line limit', this.#file, overlong));
    }
  }

  /** Hands a batch to the observer; returns the alarm to raise when the observer refused it. */
  #deliver(lines: TailLine[]): SteleError | undefined {
    try {
      this.#options.onLines(lines);
      return undefined;
    } catch (err) {
      if (!isSteleError(err)) throw err;
      if (err.code === 'STELE_E_INTEGRITY_ALARM') return err;
      return wrapFault('invalid', 'a new line of the log does not verify', this.#file, err, lines[0]!.offset);
    }
  }

  #runAudit(audit: () => SteleError | undefined): SteleError | undefined {
    let fault: SteleError | undefined;
    try {
      fault = audit();
    } catch (err) {
      if (!isSteleError(err)) throw err;
      fault = err;
    }
    if (fault === undefined || fault.code === 'STELE_E_INTEGRITY_ALARM') return fault;
    return wrapFault('changed', 'bytes the observer already read were changed in place', this.#file, fault);
  }

  /** Forgets the held partial line: the writer never acknowledged it (see the file comment). */
  #dropPending(): void {
    this.#options.logger?.warn(
      { file: this.#file, offset: this.#offset, pendingBytes: this.#pending.length },
      'the unfinished last line was cut or rewritten (a restarted writer quarantines a torn line); reading it again',
    );
    this.#pending = Buffer.alloc(0);
  }

  #ioFailed(err: SteleError): void {
    if (!this.#ioFailing) {
      this.#ioFailing = true;
      this.#options.logger?.warn({ err: err.toJSON(), file: this.#file }, 'cannot read the log; retrying on the next change or poll');
    }
  }

  /** Stops for good, then tells the observer (once). */
  async #raise(err: SteleError): Promise<void> {
    if (this.#stopped()) return;
    this.#alarmed = true;
    this.#signalStop();
    this.#stopTimers();
    this.#options.logger?.error({ err: err.toJSON() }, 'integrity alarm: the observer stops following the log');
    try {
      this.#options.onAlarm(err);
    } finally {
      // The handle is closed too: a deleted log's open handle would pin its disk space for as
      // long as the alarmed observer keeps serving.
      await this.#closeWatcher();
      await this.#closeHandle();
    }
  }

  #stopTimers(): void {
    clearInterval(this.#safetyTimer);
    clearInterval(this.#auditTimer);
    this.#safetyTimer = undefined;
    this.#auditTimer = undefined;
  }

  async #closeWatcher(): Promise<void> {
    const watcher = this.#watcher;
    this.#watcher = undefined;
    await watcher?.close();
  }

  async #closeHandle(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close();
  }
}

function toSeen(s: BigIntStats): Seen {
  return { dev: s.dev, ino: s.ino, size: Number(s.size), mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs };
}

/** Reads `length` bytes at `position`; fewer only at the end of the file. */
async function readExactly(handle: fs.promises.FileHandle, position: number, length: number, file: string): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    let n: number;
    try {
      ({ bytesRead: n } = await handle.read(buffer, filled, length - filled, position + filled));
    } catch (err) {
      throw readError(err, file, 'read', position + filled);
    }
    if (n === 0) break;
    filled += n;
  }
  return filled === length ? buffer : buffer.subarray(0, filled);
}

function firstDifference(expected: Buffer, found: Buffer): number {
  const n = Math.min(expected.length, found.length);
  for (let i = 0; i < n; i++) if (expected[i] !== found[i]) return i;
  return found.length < expected.length ? found.length : -1;
}

function hexByte(b: number | undefined): string {
  return (b ?? 0).toString(16).padStart(2, '0');
}

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function alarm(
  kind: AlarmKind,
  message: string,
  file: string,
  offset: number,
  extra: { expected?: string; found?: string; detail?: Record<string, unknown>; cause?: unknown } = {},
): SteleError {
  return steleError('STELE_E_INTEGRITY_ALARM', message, {
    where: { file, offset },
    fix: integrityAlarmFix,
    ...(extra.expected === undefined ? {} : { expected: extra.expected }),
    ...(extra.found === undefined ? {} : { found: extra.found }),
    ...(extra.cause === undefined ? {} : { cause: extra.cause }),
    detail: { kind, ...extra.detail },
  });
}

/** An alarm carrying another fault (the observer's, or the line limit) in `detail.fault`. */
function wrapFault(kind: AlarmKind, message: string, file: string, fault: SteleError, offset?: number): SteleError {
  return alarm(kind, `${message}: ${fault.message}`, file, fault.where.offset ?? offset ?? 0, {
    cause: fault,
    detail: { fault: fault.toJSON(), ...(fault.where.seq === undefined ? {} : { seq: fault.where.seq }) },
  });
}

function lineTooLarge(file: string, offset: number, bytes: number): SteleError {
  return steleError('STELE_E_LINE_TOO_LARGE', `a line of the log has more than ${limits.lineBytesMax} bytes (${bytes} so far)`, {
    where: { file, offset },
    expected: `at most ${limits.lineBytesMax} bytes`,
    found: `${bytes} bytes`,
    fix: integrityAlarmFix,
  });
}

/** A read-side I/O error. (store/file-store's ioError speaks of write permission, which a
 * read-only observer never needs.) */
function readError(err: unknown, file: string, op: string, offset: number | undefined): SteleError {
  const code = errnoCode(err);
  const denied = code === 'EACCES' || code === 'EPERM';
  return steleError('STELE_E_IO', `cannot ${op} ${file}: ${(err as Error).message}`, {
    where: offset === undefined ? { file } : { file, offset },
    fix: denied
      ? 'give the observer read permission on the log and search permission on its directory (it needs no write permission)'
      : 'check the disk, the mount and the file system (dmesg); the observer retries on the next change',
    cause: err,
  });
}
