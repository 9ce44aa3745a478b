/**
 * An example application module: a warehouse inventory, registered beside the built-in
 * modules through exactly the API they use (src/modules/module.ts). An application imports
 * these names from 'stele'; this example imports them from the source tree so the test
 * suite can type-check and run it (test/examples/inventory.test.ts).
 *
 *   commands  inventory.add_item {sku, name}         → inventory.item_added
 *             inventory.restock  {sku, quantity}     → inventory.restocked
 *             inventory.ship     {order, sku, quantity} → inventory.shipped
 *   state     item:<sku>   → {name, stock}
 *             order:<id>   → {sku, quantity, seq}    (idempotent order ids)
 *   guards    INVENTORY_ITEM_EXISTS, INVENTORY_ITEM_NOT_FOUND, INVENTORY_OUT_OF_STOCK,
 *             INVENTORY_ORDER_CONFLICT
 *   view      totals {items, units, shipped}
 *
 * Usage:
 *   const engine = await Engine.open(dir, { modules: [...builtinModules, inventoryModule] });
 *   await engine.run({ cmd: 'inventory.add_item', data: { sku: 'A-1', name: 'anvil' } });
 */
import { z } from 'zod';
import { defineCommand, defineModule, invariantBroken, snapshotInvalid } from '../../src/index.js';
import type { DomainEvent, Evolution, EventTypeDef, JsonObject, StateReader } from '../../src/index.js';

const sku = z.string().regex(/^[A-Z0-9-]{1,32}$/, 'sku: 1 to 32 of A-Z, 0-9 and -');
const quantity = z.number().int().min(1).max(1_000_000);

const addItem = z.object({ sku, name: z.string().min(1).max(200) }).strict();
const restock = z.object({ sku, quantity }).strict();
const ship = z.object({ order: z.string().min(1).max(64), sku, quantity }).strict();

const events: EventTypeDef[] = [
  { type: 'inventory.item_added', v: 1, description: 'A new item was listed with zero stock.', schema: addItem },
  { type: 'inventory.restocked', v: 1, description: 'Units of an item arrived.', schema: restock },
  { type: 'inventory.shipped', v: 1, description: 'Units of an item left for an order.', schema: ship },
];

interface Item {
  name: string;
  stock: number;
}

/** Private state: aggregates for the view. The items themselves are authenticated entries. */
interface InventoryState {
  units: number;
  shipped: number;
}

const itemKey = (s: string) => `item:${s}`;
const orderKey = (o: string) => `order:${o}`;

function evolve(state: InventoryState, event: DomainEvent, entries: StateReader): Evolution<InventoryState> {
  const d = event.data as { sku: string; name?: string; quantity?: number; order?: string };
  const item = entries.get(itemKey(d.sku)) as Item | undefined;
  switch (event.type) {
    case 'inventory.item_added':
      if (item !== undefined) throw invariantBroken(event, `item ${d.sku} already exists`);
      return { state, writes: [{ key: itemKey(d.sku), value: { name: d.name!, stock: 0 } }] };
    case 'inventory.restocked':
      if (item === undefined) throw invariantBroken(event, `no item ${d.sku}`);
      return { state: { ...state, units: state.units + d.quantity! }, writes: [{ key: itemKey(d.sku), value: { ...item, stock: item.stock + d.quantity! } }] };
    case 'inventory.shipped':
      if (item === undefined || item.stock < d.quantity!) throw invariantBroken(event, `not enough ${d.sku} in stock`);
      return {
        state: { units: state.units - d.quantity!, shipped: state.shipped + d.quantity! },
        writes: [
          { key: itemKey(d.sku), value: { ...item, stock: item.stock - d.quantity! } },
          { key: orderKey(d.order!), value: { sku: d.sku, quantity: d.quantity!, seq: event.seq } },
        ],
      };
    default:
      throw invariantBroken(event, `the inventory module has no event type ${event.type}`);
  }
}

const reject = (reason: string, message: string, path: string) => ({ ok: false as const, rejection: { reason, message, path } });

export const inventoryModule = defineModule<InventoryState>({
  name: 'inventory',
  version: 1,
  description: 'Example application module: items, stock and idempotent shipments.',
  events,
  keyPrefixes: ['item:', 'order:'],
  commands: [
    defineCommand<InventoryState, z.infer<typeof addItem>>({
      name: 'inventory.add_item',
      description: 'List a new item (zero stock).',
      schema: addItem,
      decide: (data, { entries }) =>
        entries.get(itemKey(data.sku)) !== undefined
          ? reject('INVENTORY_ITEM_EXISTS', `item ${data.sku} already exists`, 'data.sku')
          : { ok: true, events: [{ type: 'inventory.item_added', data }], result: { sku: data.sku } },
    }),
    defineCommand<InventoryState, z.infer<typeof restock>>({
      name: 'inventory.restock',
      description: 'Add units of an item.',
      schema: restock,
      decide: (data, { entries }) =>
        entries.get(itemKey(data.sku)) === undefined
          ? reject('INVENTORY_ITEM_NOT_FOUND', `no item ${data.sku}`, 'data.sku')
          : { ok: true, events: [{ type: 'inventory.restocked', data }] },
    }),
    defineCommand<InventoryState, z.infer<typeof ship>>({
      name: 'inventory.ship',
      description: 'Ship units of an item for an order; the same order id with the same body is a no-op.',
      schema: ship,
      decide: (data, { entries, seq }) => {
        const previous = entries.get(orderKey(data.order)) as { sku: string; quantity: number; seq: number } | undefined;
        if (previous !== undefined) {
          return previous.sku === data.sku && previous.quantity === data.quantity
            ? { ok: true, events: [], result: { order: data.order, seq: previous.seq } }
            : reject('INVENTORY_ORDER_CONFLICT', `order ${data.order} was already shipped with a different body`, 'data.order');
        }
        const item = entries.get(itemKey(data.sku)) as Item | undefined;
        if (item === undefined) return reject('INVENTORY_ITEM_NOT_FOUND', `no item ${data.sku}`, 'data.sku');
        if (item.stock < data.quantity) return reject('INVENTORY_OUT_OF_STOCK', `${item.stock} of ${data.sku} in stock, ${data.quantity} asked`, 'data.quantity');
        return { ok: true, events: [{ type: 'inventory.shipped', data }], result: { order: data.order, seq } };
      },
    }),
  ],
  initialState: () => ({ units: 0, shipped: 0 }),
  evolve,
  checkInvariants: (state) => (state.units < 0 ? `negative units in stock: ${state.units}` : undefined),
  snapshot: {
    encode: (state): JsonObject => ({ units: state.units, shipped: state.shipped }),
    decode: (json) => {
      const parsed = z.object({ units: z.number().int().min(0), shipped: z.number().int().min(0) }).strict().safeParse(json);
      if (!parsed.success) throw snapshotInvalid('inventory', 'expected {units, shipped}');
      return parsed.data;
    },
  },
  views: {
    totals: (state, entries) => ({ items: entries.count('item:'), units: state.units, shipped: state.shipped }),
  },
});
