/**
 * Schema helper for string-keyed maps in payloads (vault meta, telemetry tags).
 *
 * zod's record parsing silently drops an own `__proto__` key (assigning it would replace the
 * output's prototype instead), so a payload would lose a member without a word. This wrapper
 * refuses such input instead, before the record is parsed: fail loudly, never degrade
 * silently (DESIGN.md §1.5). JSON Schema generation sees the inner record unchanged.
 */
import { z } from 'zod';

export function refuseProtoKey<T extends z.ZodType>(schema: T) {
  return z.preprocess((value, ctx) => {
    if (typeof value === 'object' && value !== null && Object.prototype.hasOwnProperty.call(value, '__proto__')) {
      ctx.addIssue({ code: 'custom', message: 'must not have a __proto__ key (it cannot be an own property of a parsed object)' });
    }
    return value;
  }, schema);
}
