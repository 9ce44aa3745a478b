/**
 * JSON Schema (draft 2020-12) of the event envelope and of every registered `(type, v)`,
 * generated from the zod schemas so the two can never disagree. `schemas/` in the
 * repository holds the output; a test fails when it is stale (`npm run schemas` rewrites).
 */
import { z } from 'zod';
import { envelopeSchema } from './envelope.js';
import type { EventRegistry } from './registry.js';

/** File name → pretty-printed JSON Schema text (with a trailing newline). */
export function generateJsonSchemas(registry: EventRegistry): Map<string, string> {
  const out = new Map<string, string>();
  out.set('event-envelope.json', render({ title: 'stele event envelope (DESIGN.md §2)', ...z.toJSONSchema(envelopeSchema) }));
  for (const def of registry.all()) {
    const schema = z.toJSONSchema(def.schema, { unrepresentable: 'any' });
    out.set(`events/${def.type}@${def.v}.json`, render({ title: `${def.type}@${def.v}`, description: def.description, ...(def.reserved === true ? { 'x-stele-reserved': true } : {}), ...schema }));
  }
  return out;
}

function render(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}
