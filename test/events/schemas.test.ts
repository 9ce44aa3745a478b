/** `schemas/` holds the JSON Schema generated from the zod schemas; this fails when it is stale. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRegistry } from '../../src/events/builtin.js';
import { repoRoot } from '../helpers.js';
import { schemaFiles } from '../../src/cli/schemas.js';

describe('schemas/', () => {
  const files = schemaFiles();

  it('has exactly the generated files, byte for byte (run `npm run schemas` to refresh)', () => {
    for (const [name, text] of files) {
      const file = path.join(repoRoot, 'schemas', name);
      expect(fs.existsSync(file), `${name} is missing: run npm run schemas`).toBe(true);
      expect(fs.readFileSync(file, 'utf8'), `${name} is stale: run npm run schemas`).toBe(text);
    }
    const onDisk = fs.readdirSync(path.join(repoRoot, 'schemas'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => path.relative(path.join(repoRoot, 'schemas'), path.join(e.parentPath, e.name)).split(path.sep).join('/'));
    expect(onDisk.sort()).toEqual([...files.keys()].sort());
  });

  it('covers the envelope and every registered (type, v)', () => {
    const registry = createRegistry();
    expect([...files.keys()].sort()).toEqual(['event-envelope.json', 'openapi.json', ...registry.all().map((d) => `events/${d.type}@${d.v}.json`)].sort());
    // The built-in modules' and the system types are all there.
    for (const type of ['kv.put', 'ledger.transferred', 'vault.bundle_stored', 'audit.command_rejected', 'stele.checkpoint']) expect(files.has(`events/${type}@1.json`), type).toBe(true);
    const put = JSON.parse(files.get('events/kv.put@1.json')!);
    expect(put.required).toEqual(['key', 'value']);
    expect(put.additionalProperties).toBe(false);
  });
});
