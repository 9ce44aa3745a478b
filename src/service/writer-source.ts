/**
 * The read side of `stele serve`: the engine's state machine and log tree, plus the live
 * views and the event stream, fed by the engine's durable batches.
 *
 * The views index the whole log: the startup scan hands every line to them (also the part
 * a snapshot covers), then every durable batch extends them before its callers are
 * answered, so a client that got an ack can read its event at once.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { Logger } from 'pino';
import { steleError } from '../errors.js';
import { sha256 } from '../hash/sha256.js';
import type { DurableEvent, LogStatus } from '../log/writer.js';
import { formatConsistencyProof, formatInclusionProof } from '../proof/format.js';
import type { ConsistencyProof, InclusionProof } from '../proof/format.js';
import type { Engine, EngineOptions } from '../runtime/engine.js';
import { Engine as EngineClass, checkpointEveryDefault } from '../runtime/engine.js';
import type { StateMachine } from '../runtime/machine.js';
import { LogReader } from '../store/log-reader.js';
import { VaultStore } from '../store/vault-store.js';
import { toHex } from '../hash/hex.js';
import { LogViews } from '../views/live.js';
import type { ReadSource, StatusView } from './source.js';
import { eventJson } from './source.js';
import { StreamHub } from './stream.js';
import type { StreamEvent } from './stream.js';
import type { WriteTarget } from './write-routes.js';

export class WriterSource implements ReadSource, WriteTarget {
  readonly role = 'writer' as const;
  readonly views: LogViews;
  readonly hub: StreamHub;
  readonly vault: VaultStore;
  readonly dataDir: string;
  readonly #engine: Engine;
  readonly #reader: LogReader;
  readonly #checkpointEvery: number;
  #closed = false;
  #lastCheckpoint: { seq: number } | undefined;

  private constructor(engine: Engine, views: LogViews, options: { checkpointEvery: number; logger?: Logger }) {
    this.#engine = engine;
    this.views = views;
    this.dataDir = engine.log.paths.dir;
    this.vault = new VaultStore(this.dataDir, { readOnly: true });
    this.#reader = new LogReader(engine.log.paths.log);
    this.#checkpointEvery = options.checkpointEvery;
    this.#lastCheckpoint = engine.replay.checkpoints.last;
    this.hub = new StreamHub({
      backlog: (after, max) => this.#backlog(after, max),
      size: () => this.views.size,
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
    engine.onDurable((events, status) => this.#durable(events, status));
  }

  /** Opens the engine (lock, replay) with the views indexing the startup scan. */
  static async open(dir: string, options: EngineOptions): Promise<WriterSource> {
    const views = new LogViews();
    const engine = await EngineClass.open(dir, {
      ...options,
      onScanLine: (checked, offset, lineBytes) => views.addEnvelope(checked.event, offset, lineBytes),
    });
    // stele.recovered events appended by the open reached no listener yet: index them now.
    const source = new WriterSource(engine, views, { checkpointEvery: options.checkpointEvery ?? checkpointEveryDefault, ...(options.logger === undefined ? {} : { logger: options.logger }) });
    source.#catchUp();
    return source;
  }

  engine(): Engine {
    if (this.#closed) throw steleError('STELE_E_CLOSED', 'the service is shutting down', { fix: 'retry against the restarted service' });
    return this.#engine;
  }

  machine(): StateMachine {
    return this.#engine.machine;
  }

  status(): StatusView {
    const s = this.#engine.status();
    const lastCheckpoint = this.#lastCheckpoint;
    return {
      role: this.role,
      size: s.size,
      logRoot: s.logRoot,
      stateRoot: s.stateRoot,
      headHash: s.headHash,
      lastTs: s.lastTs,
      entries: s.entries,
      integrity: this.#integrity(),
      lag: { bytes: 0, pendingBytes: 0 },
      indexed: { size: this.views.size },
      checkpoints: { last: lastCheckpoint === undefined ? null : { seq: lastCheckpoint.seq }, every: this.#checkpointEvery },
      ...(this.#engine.signingKeyId === undefined ? {} : { signing: { keyId: this.#engine.signingKeyId } }),
    };
  }

  #integrity(): StatusView['integrity'] {
    const stopped = this.#engine.log.writer.stoppedReason;
    if (stopped === undefined) return { status: 'ok' };
    const fault = stopped as { toJSON?: () => unknown };
    return { status: 'panic', fault: (typeof fault.toJSON === 'function' ? fault.toJSON() : { code: 'STELE_E_IO', message: stopped.message }) as NonNullable<StatusView['integrity']['fault']> };
  }

  lines(fromSeq: number, toSeq: number): Buffer[] {
    return this.#reader.lines(this.views.index, fromSeq, toSeq);
  }

  proveInclusion(seq: number, size: number): InclusionProof {
    const writer = this.#engine.log.writer;
    const eventHash = sha256(this.lines(seq, seq + 1)[0]!);
    return formatInclusionProof(seq, size, toHex(eventHash), writer.rootAt(size), writer.proveInclusion(seq, size));
  }

  proveConsistency(size1: number, size2: number): ConsistencyProof {
    const writer = this.#engine.log.writer;
    return formatConsistencyProof(size1, size2, writer.rootAt(size1), writer.rootAt(size2), writer.proveConsistency(size1, size2));
  }

  /** Stops serving: ends the streams, then closes the engine (drain, checkpoint, unlock). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.hub.close();
    await this.#engine.close();
    this.#reader.close();
  }

  #durable(events: readonly DurableEvent[], _status: LogStatus): void {
    // The open indexed everything before the first listener existed (#catchUp), and batches
    // arrive in log order: each one continues the views exactly.
    assert.equal(events[0]?.event.seq ?? this.views.size, this.views.size, 'durable batches extend the views in order');
    const listening = this.hub.clients > 0;
    const frames: StreamEvent[] = [];
    for (const { event, line } of events) {
      this.views.addEnvelope(event, this.views.endOffset, Buffer.byteLength(line));
      if (event.type === 'stele.checkpoint') this.#lastCheckpoint = { seq: event.seq };
      // Frames are only for stream clients; a client attaching later resumes from the log.
      if (listening) frames.push({ seq: event.seq, json: eventJson(line, event.hash) });
    }
    if (frames.length > 0) this.hub.publishEvents(frames);
    // The status costs a state root (rehashing the paths the batch touched): only when
    // someone is listening.
    if (this.hub.clients > 0) this.hub.publishStatus(this.status());
  }

  /** Indexes lines the views missed (appended by the open before the listener existed). */
  #catchUp(): void {
    const size = this.#engine.log.writer.status().size;
    if (this.views.size >= size) return;
    const lines = this.#readFrom(this.views.endOffset, size - this.views.size);
    for (const { line, offset } of lines) {
      const event = JSON.parse(line.toString('utf8')) as Parameters<LogViews['addEnvelope']>[0];
      this.views.addEnvelope(event, offset, line.length);
    }
  }

  #readFrom(offset: number, count: number): { line: Buffer; offset: number }[] {
    // Rare (stele.recovered at open): read the tail of the file plainly.
    const data = readTail(this.#engine.log.paths.log, offset);
    const out: { line: Buffer; offset: number }[] = [];
    let start = 0;
    while (out.length < count) {
      const end = data.indexOf(0x0a, start);
      if (end < 0) break;
      out.push({ line: data.subarray(start, end), offset: offset + start });
      start = end + 1;
    }
    return out;
  }

  #backlog(after: number, max: number): { seq: number; json: string }[] {
    const to = Math.min(this.views.size, after + 1 + max);
    const lines = this.lines(after + 1, to);
    return lines.map((bytes, i) => ({ seq: after + 1 + i, json: eventJson(bytes.toString('utf8'), toHex(sha256(bytes))) }));
  }
}

function readTail(file: string, offset: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const buf = Buffer.alloc(Math.max(0, size - offset));
    fs.readSync(fd, buf, 0, buf.length, offset);
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}
