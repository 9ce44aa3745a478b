/**
 * The built-in modules, in the order their parts appear in snapshots. They are registered
 * through exactly the API an application uses (`Module`), nothing more.
 */
import type { AnyModule } from './module.js';
import { kvModule } from './kv/index.js';
import { ledgerModule } from './ledger/index.js';
import { vaultModule } from './vault/index.js';
import { auditModule } from './audit/index.js';

export const builtinModules: readonly AnyModule[] = [kvModule, ledgerModule, vaultModule, auditModule];
