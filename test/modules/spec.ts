/**
 * Given/when/then specifications for module deciders (the Emmett style of CONVENTIONS.md):
 * given the events already in the log, when a command is decided, then these events are
 * emitted (or this rejection is returned). Runs a module on its own, against an in-memory
 * authenticated state, exactly as the runtime calls it: schema first, then decide, then
 * evolve of every emitted event.
 */
import type { JsonValue } from '../../src/canonical/json.js';
import type { AnyModule, Decision, DomainEvent, NewEvent, StateReader } from '../../src/modules/module.js';

/** A plain Map as the authenticated state, with the StateReader enumeration a view needs. */
export class MemoryEntries implements StateReader {
  readonly map = new Map<string, JsonValue>();
  get(key: string): JsonValue | undefined {
    return this.map.get(key);
  }
  count(prefix: string): number {
    let n = 0;
    for (const k of this.map.keys()) if (k.startsWith(prefix)) n++;
    return n;
  }
  list(prefix: string): [string, JsonValue][] {
    return [...this.map].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }
}

export const specTs = '2026-11-22T10:00:00.000Z';

/** The outcome of `when`: a schema failure (malformed input, never recorded) or the decision. */
export type WhenOutcome = { schemaError: string } | Decision;

export class Spec {
  state: unknown;
  readonly entries = new MemoryEntries();
  seq = 0;
  /** Every event applied so far, as reducers saw them. */
  readonly applied: DomainEvent[] = [];

  constructor(readonly module: AnyModule) {
    this.state = module.initialState();
  }

  /** Applies events as if they were in the log (seq assigned in order, a fixed ts). */
  given(...events: NewEvent[]): this {
    for (const e of events) this.apply(e);
    return this;
  }

  /** Decides a command against the current state; on success applies its events. */
  when(name: string, data: unknown): WhenOutcome {
    const command = this.module.commands.find((c) => c.name === name);
    if (command === undefined) throw new Error(`module ${this.module.name} has no command ${name}`);
    const parsed = command.schema.safeParse(data);
    if (!parsed.success) return { schemaError: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
    const decision = command.decide(parsed.data, { state: this.state, entries: this.entries, seq: this.seq });
    if (decision.ok) for (const e of decision.events) this.apply(e);
    return decision;
  }

  apply(e: NewEvent, ts = specTs): DomainEvent {
    const def = this.module.events.find((d) => d.type === e.type && d.v === (e.v ?? latest(this.module, e.type)));
    if (def === undefined) throw new Error(`module ${this.module.name} has no event ${e.type}@${e.v ?? 'latest'}`);
    // Events a decider emits must pass their own schema, as the writer would check.
    const data = def.schema.parse(e.data);
    const event: DomainEvent = { seq: this.seq++, ts, type: def.type, v: def.v, data: data as DomainEvent['data'] };
    const next = this.module.evolve(this.state, event, this.entries);
    this.state = next.state;
    for (const w of next.writes) {
      if (!this.module.keyPrefixes.some((p) => w.key.startsWith(p))) throw new Error(`${this.module.name} wrote ${w.key} outside its prefixes`);
      if (w.value === undefined) this.entries.map.delete(w.key);
      else this.entries.map.set(w.key, w.value);
    }
    this.applied.push(event);
    return event;
  }

  view(name: string): JsonValue {
    const view = this.module.views[name];
    if (view === undefined) throw new Error(`module ${this.module.name} has no view ${name}`);
    return view(this.state, this.entries);
  }
}

function latest(module: AnyModule, type: string): number {
  let v = 0;
  for (const d of module.events) if (d.type === type && d.v > v) v = d.v;
  return v;
}
