/** `stele schemas`: writes (or checks) the generated JSON Schemas and the OpenAPI document of the HTTP API. */
import fs from 'node:fs';
import path from 'node:path';
import { createRegistry } from '../events/builtin.js';
import { generateJsonSchemas } from '../events/json-schema.js';
import { exitCodes } from './output.js';
import { apiDocument } from '../service/server.js';
import { version } from './serve.js';

/** Every generated file of `schemas/`, by relative path: event JSON Schemas and the OpenAPI document. */
export function schemaFiles(): Map<string, string> {
  const files = generateJsonSchemas(createRegistry());
  files.set('openapi.json', `${JSON.stringify(apiDocument(version), null, 2)}\n`);
  return files;
}

export function writeSchemas(outDir: string, check: boolean): number {
  const files = schemaFiles();
  const stale: string[] = [];
  for (const [name, text] of files) {
    const file = path.join(outDir, name);
    const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
    if (current === text) continue;
    stale.push(name);
    if (!check) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, text);
    }
  }
  if (check && stale.length > 0) {
    process.stderr.write(`stele: stale JSON Schemas in ${outDir}: ${stale.join(', ')}\n  fix:      run npm run schemas\n`);
    return exitCodes.verifyFailed;
  }
  process.stdout.write(check ? `schemas in ${outDir} are up to date\n` : `wrote ${stale.length} of ${files.size} schema files to ${outDir}\n`);
  return exitCodes.ok;
}
