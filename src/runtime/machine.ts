/**
 * The state machine: the registered modules, their private states and the authenticated
 * state, advanced one event at a time. The pure core that startup replay, the writer
 * engine, the observer and the tests all share, so that the state a writer serves is by
 * construction the state any replay of its log derives.
 *
 * Invariants:
 * - `apply` is the only way state changes, and it is a deterministic function of the
 *   events applied so far (DESIGN.md §1.3): no clock, no I/O.
 * - Events are routed to the module named by their type's first segment (`ledger.…` →
 *   ledger); a type with no module (system `stele.*` types, application types registered
 *   without a module) changes no state.
 * - A module writes only under its own key prefixes, and no prefix of one module is a
 *   prefix of another's (checked at construction).
 * - `decide` reads the state and never changes it.
 */
import assert from 'node:assert/strict';
import type { JsonObject, JsonValue } from '../canonical/json.js';
import { canonicalize } from '../canonical/json.js';
import { steleError } from '../errors.js';
import type { EventEnvelope } from '../events/envelope.js';
import { createRegistry } from '../events/builtin.js';
import type { EventRegistry } from '../events/registry.js';
import { sha256HexUtf8 } from '../hash/sha256.js';
import { rejectionEvent } from '../modules/audit/index.js';
import { builtinModules } from '../modules/builtin.js';
import type { AnyCommandDef, AnyModule, Decision, DomainEvent, NewEvent, Rejection } from '../modules/module.js';
import { StateStore } from '../state/store.js';

/** A command as callers send it (CLI, HTTP, library): `{cmd, data, meta?}`. */
export interface CommandInput {
  cmd: string;
  data: unknown;
  meta?: JsonObject;
}

/** A command whose name and payload passed validation; only these reach `decide`. */
export interface ValidCommand {
  cmd: string;
  data: unknown;
  meta: JsonObject | undefined;
  readonly def: AnyCommandDef<unknown>;
  readonly moduleIndex: number;
}

/** The outcome of deciding one command: events to write, the caller's result, or a rejection to record. */
export type CommandOutcome =
  | { ok: true; events: NewEvent[]; result: JsonValue | undefined }
  | { ok: false; rejection: Rejection; /** The decision record to write (when the audit module is present). */ events: NewEvent[] };

/** A module's private state with its identity, as snapshots store it. */
export interface ModulePart {
  module: string;
  version: number;
  state: JsonValue;
}

export interface MachineOptions {
  modules?: readonly AnyModule[];
  registry?: EventRegistry;
}

export class StateMachine {
  readonly modules: readonly AnyModule[];
  readonly registry: EventRegistry;
  entries: StateStore;
  /** Events applied: the seq the next event will have. */
  size = 0;
  readonly #states: unknown[];
  readonly #moduleByName = new Map<string, number>();
  readonly #commands = new Map<string, { def: AnyCommandDef<unknown>; moduleIndex: number }>();
  /** Per event type: the module index (or -1) and the latest version, cached on first sight. */
  readonly #routes = new Map<string, { moduleIndex: number; latest: number }>();
  readonly #auditIndex: number;

  constructor(options: MachineOptions = {}) {
    this.modules = options.modules ?? builtinModules;
    this.registry = options.registry ?? createRegistry(this.modules === builtinModules ? [] : extraEvents(this.modules));
    checkModules(this.modules, this.registry);
    this.modules.forEach((m, i) => {
      this.#moduleByName.set(m.name, i);
      for (const c of m.commands) this.#commands.set(c.name, { def: c, moduleIndex: i });
    });
    this.#states = this.modules.map((m) => m.initialState());
    this.entries = new StateStore(this.modules.flatMap((m) => m.keyPrefixes));
    this.#auditIndex = this.#moduleByName.get('audit') ?? -1;
  }

  /** Every command name, sorted (for help texts and errors). */
  commandNames(): string[] {
    return [...this.#commands.keys()].sort();
  }

  /**
   * Applies one verified event. `event.seq` must be the machine's `size` (a programmer
   * error otherwise). Throws STELE_E_INVARIANT when a module cannot apply it.
   */
  apply(envelope: EventEnvelope | DomainEvent): void {
    // An envelope's payload came out of JSON.parse of a verified line: it is JSON.
    const event = envelope as DomainEvent;
    assert.equal(event.seq, this.size, 'events are applied in log order');
    const route = this.#route(event.type);
    if (route.moduleIndex >= 0) {
      const module = this.modules[route.moduleIndex]!;
      // Fast case: nearly every stored event is already at its type's latest version.
      const domain: DomainEvent = event.v === route.latest ? event : this.#upcast(event);
      const next = module.evolve(this.#states[route.moduleIndex], domain, this.entries);
      this.#states[route.moduleIndex] = next.state;
      for (const write of next.writes) {
        assert.ok(ownsKey(module, write.key), `module ${module.name} wrote ${write.key} outside its key prefixes`);
        this.entries.apply(write);
      }
    }
    this.size = event.seq + 1;
  }

  #route(type: string): { moduleIndex: number; latest: number } {
    let route = this.#routes.get(type);
    if (route === undefined) {
      const dot = type.indexOf('.');
      const name = dot < 0 ? type : type.slice(0, dot);
      route = { moduleIndex: this.#moduleByName.get(name) ?? -1, latest: this.registry.latestVersion(type) ?? 0 };
      this.#routes.set(type, route);
    }
    return route;
  }

  #upcast(event: DomainEvent): DomainEvent {
    const up = this.registry.upcast(event.type, event.v, event.data);
    const out: DomainEvent = { seq: event.seq, ts: event.ts, type: event.type, v: up.v, data: up.data as JsonObject };
    if (event.meta !== undefined) out.meta = event.meta;
    return out;
  }

  /**
   * Validates a command's name and payload without deciding it. Throws STELE_E_USAGE for a
   * malformed envelope, STELE_E_UNKNOWN_COMMAND, or STELE_E_SCHEMA with the zod issues.
   * Malformed input is never recorded in the log.
   */
  validate(input: unknown): ValidCommand {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      throw steleError('STELE_E_SCHEMA', 'a command is an object {cmd, data, meta?}', { fix: 'send {"cmd":"kv.put","data":{"key":"a","value":1}}' });
    }
    const { cmd, data, meta, ...rest } = input as Record<string, unknown>;
    const extra = Object.keys(rest);
    if (extra.length > 0) {
      throw steleError('STELE_E_SCHEMA', `unknown field ${extra[0]} in the command`, { where: { path: extra[0] }, fix: 'a command has only cmd, data and meta' });
    }
    if (typeof cmd !== 'string') throw steleError('STELE_E_SCHEMA', 'cmd must be a command name string', { where: { path: 'cmd' }, fix: `one of: ${this.commandNames().join(', ')}` });
    const entry = this.#commands.get(cmd);
    if (entry === undefined) {
      throw steleError('STELE_E_UNKNOWN_COMMAND', `unknown command ${cmd}`, { where: { path: 'cmd' }, fix: `one of: ${this.commandNames().join(', ')}` });
    }
    if (meta !== undefined && (typeof meta !== 'object' || meta === null || Array.isArray(meta))) {
      throw steleError('STELE_E_SCHEMA', 'meta must be a JSON object', { where: { path: 'meta' }, fix: 'send meta as {"actor": …} or leave it out' });
    }
    const parsed = entry.def.schema.safeParse(data);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      const path = ['data', ...(first?.path ?? []).map(String)].join('.');
      throw steleError('STELE_E_SCHEMA', `${cmd}: ${first?.message ?? 'invalid payload'} at ${path}`, {
        where: { path },
        fix: `send data matching the ${cmd} command (stele cmd --help, docs/cli.md)`,
        detail: { issues: parsed.error.issues.map((i) => ({ path: ['data', ...i.path.map(String)], message: i.message, code: i.code })) },
      });
    }
    return { cmd, data: parsed.data, meta: meta as JsonObject | undefined, def: entry.def, moduleIndex: entry.moduleIndex };
  }

  /**
   * Decides a validated command against the current state, as if its first event were
   * to get `seq`. Never changes the state: the caller appends the events and applies them.
   */
  decide(command: ValidCommand, seq: number = this.size): CommandOutcome {
    const decision: Decision = command.def.decide(command.data, { state: this.#states[command.moduleIndex], entries: this.entries, seq });
    if (decision.ok) return { ok: true, events: decision.events, result: decision.result };
    // The decision record holds the SHA-256 of the canonical command data, computed only for
    // rejections (most commands are accepted: no hash on their path).
    const events = this.#auditIndex >= 0 ? [rejectionEvent(command.cmd, decision.rejection, sha256HexUtf8(canonicalize(command.data)))] : [];
    return { ok: false, rejection: decision.rejection, events };
  }

  /** The first broken module invariant, or undefined. */
  checkInvariants(): string | undefined {
    for (let i = 0; i < this.modules.length; i++) {
      const problem = this.modules[i]!.checkInvariants?.(this.#states[i], this.entries);
      if (problem !== undefined) return `${this.modules[i]!.name}: ${problem}`;
    }
    return undefined;
  }

  /** A module's derived view. Throws STELE_E_NOT_FOUND for an unknown module or view. */
  view(moduleName: string, viewName: string): JsonValue {
    const index = this.#moduleByName.get(moduleName);
    const view = index === undefined ? undefined : this.modules[index]!.views[viewName];
    if (index === undefined || view === undefined) {
      throw steleError('STELE_E_NOT_FOUND', `no view ${moduleName}.${viewName}`, { fix: `views: ${this.viewNames().join(', ')}` });
    }
    return view(this.#states[index], this.entries);
  }

  viewNames(): string[] {
    return this.modules.flatMap((m) => Object.keys(m.views).map((v) => `${m.name}.${v}`)).sort();
  }

  /** The state root, hex (DESIGN.md §3). */
  stateRoot(): string {
    return this.entries.root();
  }

  /** Every module's private state, encoded, in module order (for snapshots). */
  moduleParts(): ModulePart[] {
    return this.modules.map((m, i) => ({ module: m.name, version: m.version, state: m.snapshot.encode(this.#states[i]) }));
  }

  /**
   * A machine positioned after `size` events, from snapshot contents. The caller has
   * checked the parts' modules and versions against this machine's and the entries' order;
   * the decoders check the parts' shapes.
   */
  static restore(options: MachineOptions, size: number, parts: readonly ModulePart[], entries: readonly (readonly [string, JsonValue])[], valueHashes?: readonly Uint8Array[]): StateMachine {
    const machine = new StateMachine(options);
    assert.equal(parts.length, machine.modules.length, 'one snapshot part per module');
    machine.modules.forEach((m, i) => {
      machine.#states[i] = m.snapshot.decode(parts[i]!.state);
    });
    machine.entries = StateStore.load(machine.modules.flatMap((m) => m.keyPrefixes), entries, valueHashes);
    machine.size = size;
    return machine;
  }
}

function ownsKey(module: AnyModule, key: string): boolean {
  for (const prefix of module.keyPrefixes) if (key.startsWith(prefix)) return true;
  return false;
}

function extraEvents(modules: readonly AnyModule[]) {
  const builtin = new Set(builtinModules);
  return modules.filter((m) => !builtin.has(m)).flatMap((m) => m.events);
}

/** Module sets are fixed at startup: a bad one is a programmer error, reported at once. */
function checkModules(modules: readonly AnyModule[], registry: EventRegistry): void {
  const names = new Set<string>();
  const prefixes: string[] = [];
  for (const m of modules) {
    assert.match(m.name, /^[a-z][a-z0-9_]*$/, `module name ${m.name}`);
    assert.ok(m.name !== 'stele', 'the stele namespace is reserved');
    assert.ok(!names.has(m.name), `module ${m.name} is registered twice`);
    names.add(m.name);
    for (const e of m.events) {
      assert.ok(e.type.startsWith(`${m.name}.`), `module ${m.name} defines event ${e.type} outside its namespace`);
      assert.ok(registry.get(e.type, e.v) !== undefined, `event ${e.type}@${e.v} of module ${m.name} is not in the registry`);
    }
    for (const c of m.commands) assert.ok(c.name.startsWith(`${m.name}.`), `module ${m.name} defines command ${c.name} outside its namespace`);
    for (const p of m.keyPrefixes) {
      assert.ok(p.length > 0, `module ${m.name} has an empty key prefix`);
      for (const q of prefixes) assert.ok(!p.startsWith(q) && !q.startsWith(p), `key prefixes ${p} and ${q} overlap`);
      prefixes.push(p);
    }
  }
}
