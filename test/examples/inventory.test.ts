/**
 * The example application module of docs/examples/inventory.ts, registered beside the
 * built-ins exactly as an application would: commands, guards, replay, snapshot + tail.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inventoryModule } from '../../docs/examples/inventory.js';
import { isSteleError } from '../../src/errors.js';
import { builtinModules } from '../../src/modules/builtin.js';
import { Engine } from '../../src/runtime/engine.js';
import { replayDir } from '../../src/runtime/replay.js';
import { verifyDir } from '../../src/runtime/verify.js';
import { initDataDir } from '../../src/store/data-dir.js';
import { tempDir } from '../helpers.js';
import { Spec } from '../modules/spec.js';

const modules = [...builtinModules, inventoryModule];
const root = tempDir();
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('example application module: inventory', () => {
  it('decider specifications: given events, when command, then events or rejection', () => {
    const spec = new Spec(inventoryModule).given({ type: 'inventory.item_added', data: { sku: 'A-1', name: 'anvil' } }, { type: 'inventory.restocked', data: { sku: 'A-1', quantity: 3 } });
    expect(spec.when('inventory.add_item', { sku: 'A-1', name: 'again' })).toMatchObject({ ok: false, rejection: { reason: 'INVENTORY_ITEM_EXISTS' } });
    expect(spec.when('inventory.ship', { order: 'o1', sku: 'A-1', quantity: 4 })).toMatchObject({ ok: false, rejection: { reason: 'INVENTORY_OUT_OF_STOCK', path: 'data.quantity' } });
    expect(spec.when('inventory.ship', { order: 'o1', sku: 'A-1', quantity: 2 })).toEqual({ ok: true, events: [{ type: 'inventory.shipped', data: { order: 'o1', sku: 'A-1', quantity: 2 } }], result: { order: 'o1', seq: 2 } });
    expect(spec.when('inventory.ship', { order: 'o1', sku: 'A-1', quantity: 2 })).toEqual({ ok: true, events: [], result: { order: 'o1', seq: 2 } });
    expect(spec.when('inventory.ship', { order: 'o1', sku: 'A-1', quantity: 1 })).toMatchObject({ ok: false, rejection: { reason: 'INVENTORY_ORDER_CONFLICT' } });
    expect(spec.when('inventory.restock', { sku: 'a-1', quantity: 1 })).toHaveProperty('schemaError');
    expect(spec.view('totals')).toEqual({ items: 1, units: 1, shipped: 2 });
  });

  it('runs in the engine beside the built-ins; replay, verify and snapshot + tail agree', async () => {
    const data = path.join(root, 'data');
    initDataDir(data);
    const engine = await Engine.open(data, { modules, checkpointEvery: 3 });
    await engine.run({ cmd: 'inventory.add_item', data: { sku: 'B-2', name: 'bolt' } });
    await engine.run({ cmd: 'inventory.restock', data: { sku: 'B-2', quantity: 10 } });
    await engine.run({ cmd: 'ledger.open', data: { account: 'shop' } });
    const file = await engine.snapshot();
    await engine.run({ cmd: 'inventory.ship', data: { order: 'o-9', sku: 'B-2', quantity: 4 } });
    const rejected = await engine.run({ cmd: 'inventory.ship', data: { order: 'o-10', sku: 'B-2', quantity: 7 } }).catch((err: unknown) => err);
    expect(isSteleError(rejected) && rejected.detail?.reason).toBe('INVENTORY_OUT_OF_STOCK');
    const live = engine.status().stateRoot;
    await engine.close();
    expect(path.basename(file)).toMatch(/^\d{16}\.ndjson$/);
    const withSnapshot = await replayDir(data, { modules });
    const fromGenesis = await replayDir(data, { modules, snapshot: false });
    expect(withSnapshot.stats.snapshot).toBeDefined();
    expect(withSnapshot.stats.stateRoot).toBe(live);
    expect(fromGenesis.stats.stateRoot).toBe(live);
    expect(fromGenesis.machine.view('inventory', 'totals')).toEqual({ items: 1, units: 6, shipped: 4 });
    expect(fromGenesis.machine.entries.get('item:B-2')).toEqual({ name: 'bolt', stock: 6 });
    expect((await verifyDir(data, { modules })).ok).toBe(true);
    // Without the module registered, its events are unknown types: the log does not verify.
    const report = await verifyDir(data);
    expect(report.fault?.code).toBe('STELE_E_EVENT_INVALID');
  });
});
