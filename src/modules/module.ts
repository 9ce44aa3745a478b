/**
 * The module API (DESIGN.md §7): what a module is, for the built-ins and for applications.
 *
 * A module is a decider over one slice of the state:
 * - its event schemas, one `EventTypeDef` per `(type, v)`, all named `<module>.<event>`
 *   (past tense: `ledger.transferred`; kv keeps the `kv.put`/`kv.delete` names released in
 *   issue #2, because a released `(type, v)` never changes);
 * - its commands (imperative: `ledger.transfer`), each a zod schema for `data` and a pure
 *   `decide(data, context) → events | typed rejection`;
 * - its pure reducer `evolve(state, event, entries) → {state, writes}`;
 * - the authenticated state keys it owns (`keyPrefixes`): every write it makes starts with
 *   one of them, and no two modules share a prefix;
 * - its snapshot codec for its private state (the authenticated entries are written to
 *   snapshots by the runtime) and its derived views.
 *
 * Two kinds of state: the **authenticated entries** (`key → JSON value`, committed to by the
 * state root of DESIGN.md §3, read through `StateReader`, changed only through the writes
 * `evolve` returns) and the module's **private state** `S` (plain data: counters, indexes,
 * aggregates for views), which is not in the state root but is in snapshots.
 *
 * Contracts the runtime relies on:
 * - `decide` and `evolve` are deterministic functions of their arguments: no clock,
 *   randomness, environment, files or network (DESIGN.md §1.3). Time and ids come in the
 *   command or the event (`event.ts`, `event.seq`).
 * - `decide` never changes its arguments.
 * - `evolve` may update `state` in place and return it (replay reduces a million events a
 *   second and cannot copy aggregates per event), but it must not keep references to the
 *   event or the entries, and must never throw for an event `decide` could have emitted. An
 *   event that breaks the module's invariants (possible only in a hand-made log) is reported
 *   by throwing a SteleError with code STELE_E_INVARIANT.
 * - `snapshot.decode(snapshot.encode(s))` equals `s` for every reachable `s`, and `encode`
 *   is a function of the state's content only (two equal states give byte-identical JCS).
 */
import type { z } from 'zod';
import type { JsonObject, JsonValue } from '../canonical/json.js';
import type { EventTypeDef } from '../events/registry.js';

/** Read access to the authenticated state (DESIGN.md §3). */
export interface StateReader {
  /** The value at `key`, or undefined when absent. Callers must not mutate it. */
  get(key: string): JsonValue | undefined;
  /** How many keys start with `prefix`, one of the modules' `keyPrefixes`. O(1). */
  count(prefix: string): number;
  /** Every entry whose key starts with `prefix`, sorted by key (UTF-16 order). O(n log n): for views and reads, never for reducers. */
  list(prefix: string): [string, JsonValue][];
}

/** One change to the authenticated state; `value: undefined` deletes the key. */
export interface StateWrite {
  key: string;
  value: JsonValue | undefined;
}

/** An event as a reducer sees it: already verified, payload upcast to the type's latest version. */
export interface DomainEvent {
  seq: number;
  /** RFC 3339 UTC with milliseconds, stamped by the writer. */
  ts: string;
  type: string;
  v: number;
  data: JsonObject;
  meta?: JsonObject;
}

/** An event a decider emits; the writer stamps `seq`, `ts` and `prev`. `v` defaults to the latest. */
export interface NewEvent {
  type: string;
  v?: number;
  data: JsonObject;
}

/** Why a guard refused a command. `reason` is a stable code, part of the API like error codes. */
export interface Rejection {
  /** Stable, UPPER_SNAKE, prefixed by the module: `LEDGER_INSUFFICIENT_FUNDS`. */
  reason: string;
  message: string;
  /** Where in the command the refused value is, e.g. `data.amount`. */
  path?: string;
  detail?: JsonObject;
}

/** What `decide` returns: events to append (maybe none) and the result shown to the caller, or a rejection. */
export type Decision = { ok: true; events: NewEvent[]; result?: JsonValue } | { ok: false; rejection: Rejection };

/** What a command's `decide` sees. */
export interface DecideContext<S> {
  /** The module's private state. Read only. */
  state: S;
  /** The authenticated state of all modules. Read only. */
  entries: StateReader;
  /** The seq the first emitted event will get (for results; never stored in a decision's logic). */
  seq: number;
}

/** One command of a module. `data` has been validated by `schema` before `decide` runs. */
export interface CommandDef<S, C> {
  /** `<module>.<verb>`, e.g. `ledger.transfer`: the same in the CLI, the HTTP API and the library. */
  name: string;
  description: string;
  schema: z.ZodType<C>;
  decide(data: C, context: DecideContext<S>): Decision;
}

/** A command with its payload type erased, as modules list them. */
export interface AnyCommandDef<S> {
  name: string;
  description: string;
  schema: z.ZodType<unknown>;
  decide(data: unknown, context: DecideContext<S>): Decision;
}

/**
 * Erases a command's payload type so a module can list commands of different payloads.
 * Safe because the runtime passes `decide` only what `schema` parsed.
 */
export function defineCommand<S, C>(def: CommandDef<S, C>): AnyCommandDef<S> {
  return def;
}

/** What `evolve` returns: the module's next private state and its writes to the entries. */
export interface Evolution<S> {
  state: S;
  writes: readonly StateWrite[];
}

/** A derived view: a pure function of the module's state (and the entries) to JSON. */
export type ModuleView<S> = (state: S, entries: StateReader) => JsonValue;

export interface SnapshotCodec<S> {
  /** The private state as one JSON value (written as one snapshot line). */
  encode(state: S): JsonValue;
  /** The inverse of `encode`; throws a SteleError (STELE_E_SNAPSHOT_INVALID) on malformed input. */
  decode(json: JsonValue): S;
}

export interface Module<S> {
  /** Lowercase name; owns the event types and commands `<name>.*`. */
  name: string;
  /**
   * Version of the module's semantics (reducer, key layout, snapshot codec). Written into
   * snapshot headers: a snapshot made by another version is not loaded (replay from genesis).
   */
  version: number;
  description: string;
  events: readonly EventTypeDef[];
  commands: readonly AnyCommandDef<S>[];
  /** Prefixes of the authenticated keys this module owns, e.g. `account:`. */
  keyPrefixes: readonly string[];
  initialState(): S;
  evolve(state: S, event: DomainEvent, entries: StateReader): Evolution<S>;
  /**
   * Checks the module's invariants on its current state; returns a description of the first
   * violation, or undefined. Called after every written batch and at every checkpoint of a
   * replay, so it must be cheap (O(1) or O(changed)).
   */
  checkInvariants?(state: S, entries: StateReader): string | undefined;
  snapshot: SnapshotCodec<S>;
  views: Readonly<Record<string, ModuleView<S>>>;
}

/** A module with its private state type erased, as the runtime holds them. */
export type AnyModule = Module<unknown>;

/** Erases a module's state type for registration; safe because the runtime only passes a module its own state. */
export function defineModule<S>(module: Module<S>): AnyModule {
  return module as unknown as AnyModule;
}
