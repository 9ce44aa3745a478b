/** `stele schemas`: writes (or checks) the generated JSON Schemas. */
import fs from 'node:fs';
import path from 'node:path';
import { createRegistry } from '../events/builtin.js';
import { generateJsonSchemas } from '../events/json-schema.js';
import { exitCodes } from './output.js';

export function writeSchemas(outDir: string, check: boolean): number {
  const files = generateJsonSchemas(createRegistry());
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
