/**
 * The registry of event payload schemas, keyed by `(type, v)`, with upcasters.
 *
 * A `(type, v)` once released never changes meaning (DESIGN.md §2): new behaviour is a new
 * `v`. When a new version changes the payload's shape it registers an upcaster from the
 * version before it, so readers can bring any stored payload up to the latest version
 * while the log keeps the bytes as written.
 *
 * Reserved system types (`stele.*`) are written by stele itself and can never be appended
 * directly by a caller.
 */
import { z } from 'zod';
import { steleError } from '../errors.js';
import type { JsonObjectValue } from './envelope.js';
import { typePattern } from './envelope.js';

/** The definition of one version of one event type. */
export interface EventTypeDef {
  type: string;
  v: number;
  /** Validates the payload (`data`). Must accept only JSON objects. */
  schema: z.ZodType<JsonObjectValue>;
  /** One sentence for docs and JSON Schema `description`. */
  description: string;
  /** Written only by stele itself; a direct append is refused with STELE_E_RESERVED_TYPE. */
  reserved?: boolean;
  /**
   * May be appended directly (`stele append`, the writer's `append`), without a command:
   * only for types where every valid payload is a legal state transition (kv.put). Other
   * types are written only by their module's commands, whose guards keep the invariants.
   */
  direct?: boolean;
  /** Converts the payload of version `v - 1` into this version's shape. */
  upcastFrom?: (previous: JsonObjectValue) => JsonObjectValue;
}

export class EventRegistry {
  readonly #defs = new Map<string, EventTypeDef>();
  readonly #latest = new Map<string, number>();

  /** Registers one `(type, v)`. Versions of a type are registered in order 1, 2, 3… */
  register(def: EventTypeDef): this {
    if (!typePattern.test(def.type)) throw new Error(`invalid event type name ${def.type}`);
    const key = registryKey(def.type, def.v);
    if (this.#defs.has(key)) throw new Error(`event type ${key} is already registered`);
    const latest = this.#latest.get(def.type) ?? 0;
    if (def.v !== latest + 1) throw new Error(`event type ${def.type}: register v${latest + 1} before v${def.v}`);
    if (def.v > 1 && def.upcastFrom === undefined) {
      // Allowed: a new version with the same shape needs no upcaster; identity is used.
    }
    if (def.type.startsWith('stele.') && def.reserved !== true) {
      throw new Error(`event type ${def.type}: the stele.* namespace is reserved`);
    }
    this.#defs.set(key, def);
    this.#latest.set(def.type, def.v);
    return this;
  }

  get(type: string, v: number): EventTypeDef | undefined {
    return this.#defs.get(registryKey(type, v));
  }

  latestVersion(type: string): number | undefined {
    return this.#latest.get(type);
  }

  /** Every registered definition, sorted by type then version (stable for generated docs). */
  all(): EventTypeDef[] {
    return [...this.#defs.values()].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : a.v - b.v));
  }

  /**
   * Validates a payload against `(type, v)`; returns the parsed payload.
   * Throws STELE_E_UNKNOWN_TYPE or STELE_E_SCHEMA (with the zod issues in `detail.issues`).
   */
  validate(type: string, v: number, data: unknown): JsonObjectValue {
    const def = this.get(type, v);
    if (def === undefined) throw this.unknown(type, v);
    const result = def.schema.safeParse(data);
    if (!result.success) {
      const first = result.error.issues[0];
      const path = first === undefined ? '' : first.path.map(String).join('.');
      throw steleError('STELE_E_SCHEMA', `${type}@${v} payload is invalid: ${first?.message ?? 'invalid'}${path === '' ? '' : ` at data.${path}`}`, {
        where: { path: path === '' ? 'data' : `data.${path}` },
        fix: `send a payload matching schemas/events/${type}@${v}.json`,
        detail: { issues: result.error.issues.map((i) => ({ path: i.path.map(String), message: i.message, code: i.code })) },
      });
    }
    return result.data;
  }

  /** Checks that a caller may append `(type, v)` directly: registered and not reserved. */
  assertAppendable(type: string, v: number): EventTypeDef {
    const def = this.get(type, v);
    if (def === undefined) throw this.unknown(type, v);
    if (def.reserved === true) {
      throw steleError('STELE_E_RESERVED_TYPE', `${type} is a reserved system event type; stele writes it itself`, {
        fix: 'append an application event type instead',
      });
    }
    if (def.direct !== true) {
      throw steleError('STELE_E_NOT_DIRECT', `${type} events are written only by commands, whose guards keep the module's invariants`, {
        fix: `run the module's command instead: stele cmd ${type.split('.')[0]}.<command> JSON (stele cmd --help lists them)`,
      });
    }
    return def;
  }

  /** Brings a stored payload of `(type, v)` up to the latest version of `type`. */
  upcast(type: string, v: number, data: JsonObjectValue): { v: number; data: JsonObjectValue } {
    const latest = this.#latest.get(type);
    if (latest === undefined || v > latest || v < 1) throw this.unknown(type, v);
    let current = data;
    for (let next = v + 1; next <= latest; next++) {
      const def = this.#defs.get(registryKey(type, next));
      if (def?.upcastFrom !== undefined) current = def.upcastFrom(current);
    }
    return { v: latest, data: current };
  }

  private unknown(type: string, v: number) {
    const latest = this.#latest.get(type);
    return steleError(
      'STELE_E_UNKNOWN_TYPE',
      latest === undefined ? `unknown event type ${type}` : `unknown version ${type}@${v} (latest is v${latest})`,
      { fix: latest === undefined ? 'register the type first, or check its spelling (stele schemas lists them)' : `use --v ${latest} or an earlier registered version` },
    );
  }
}

function registryKey(type: string, v: number): string {
  return `${type}@${v}`;
}
