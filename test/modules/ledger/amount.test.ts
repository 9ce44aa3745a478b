import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  amountPattern,
  amountSchema,
  balancePattern,
  formatAmount,
  formatBalance,
  isAmount,
  parseAmount,
  parseBalance,
  positiveAmountPattern,
  positiveAmountSchema,
  u128Max,
} from '../../../src/modules/ledger/amount.js';

const u128 = fc.bigInt({ min: 0n, max: u128Max });
/** Amounts near the interesting edges as well as anywhere. */
const edgy = fc.oneof(u128, fc.bigInt({ min: u128Max - 1000n, max: u128Max }), fc.bigInt({ min: 0n, max: 1000n }));

describe('amount codec', () => {
  it('u128Max is 2^128 − 1 = 340282366920938463463374607431768211455', () => {
    expect(u128Max).toBe(2n ** 128n - 1n);
    expect(formatAmount(u128Max)).toBe('340282366920938463463374607431768211455');
  });

  it('accepts the canonical amounts at the edges', () => {
    for (const text of ['0', '1', '9', '10', '12500', '340282366920938463463374607431768211455', '340282366920938463463374607431768211454', '99999999999999999999999999999999999999']) {
      expect(parseAmount(text), text).toBe(BigInt(text));
      expect(isAmount(text)).toBe(true);
    }
  });

  it('rejects non-canonical and out-of-range text', () => {
    for (const text of ['', '-0', '-1', '+1', '01', '00', ' 1', '1 ', '1.0', '1e3', '0x10', '１', '٣', '340282366920938463463374607431768211456', '340282366920938463463374607431768211460', '999999999999999999999999999999999999999', '1000000000000000000000000000000000000000']) {
      expect(parseAmount(text), JSON.stringify(text)).toBeUndefined();
      expect(amountSchema.safeParse(text).success, JSON.stringify(text)).toBe(false);
    }
    expect(amountSchema.safeParse(12500).success).toBe(false);
    expect(positiveAmountSchema.safeParse('0').success).toBe(false);
  });

  it('property: format/parse round trip over u128', () => {
    fc.assert(
      fc.property(edgy, (n) => {
        const text = formatAmount(n);
        expect(parseAmount(text)).toBe(n);
        expect(amountPattern.test(text)).toBe(true);
        expect(positiveAmountPattern.test(text)).toBe(n > 0n);
      }),
      { seed: 7, numRuns: 2000 },
    );
  });

  it('property: the pattern agrees with BigInt comparison on any digit string', () => {
    const digits = fc.string({ unit: fc.constantFrom('0', '1', '2', '3', '4', '5', '6', '7', '8', '9'), minLength: 1, maxLength: 41 });
    const nearMax = fc.bigInt({ min: u128Max - 10n ** 20n, max: u128Max + 10n ** 20n }).map(String);
    fc.assert(
      fc.property(fc.oneof(digits, nearMax), (text) => {
        const canonical = text === '0' || !text.startsWith('0');
        expect(isAmount(text)).toBe(canonical && BigInt(text) <= u128Max);
      }),
      { seed: 7, numRuns: 5000 },
    );
  });

  it('property: a leading zero, a sign or a value above u128 is always rejected', () => {
    fc.assert(
      fc.property(u128, fc.constantFrom('0', '+', '-', ' '), (n, prefix) => {
        expect(parseAmount(prefix + n.toString())).toBeUndefined();
      }),
      { seed: 7, numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.bigInt({ min: u128Max + 1n, max: 2n ** 140n }), (n) => {
        expect(parseAmount(n.toString())).toBeUndefined();
      }),
      { seed: 7, numRuns: 1000 },
    );
  });

  it('balances: signed, never -0, within ±(2^128−1)', () => {
    expect(parseBalance('-150')).toBe(-150n);
    expect(parseBalance('0')).toBe(0n);
    expect(parseBalance(`-${u128Max}`)).toBe(-u128Max);
    for (const text of ['-0', '+1', '-01', `-${u128Max + 1n}`, '']) expect(parseBalance(text), text).toBeUndefined();
    expect(formatBalance(-150n)).toBe('-150');
    expect(() => formatBalance(-u128Max - 1n)).toThrow();
    expect(() => formatAmount(-1n)).toThrow();
    expect(() => formatAmount(u128Max + 1n)).toThrow();
    fc.assert(
      fc.property(fc.bigInt({ min: -u128Max, max: u128Max }), (n) => {
        expect(parseBalance(formatBalance(n))).toBe(n);
        expect(balancePattern.test(formatBalance(n))).toBe(true);
      }),
      { seed: 7, numRuns: 1000 },
    );
  });

  it('the JSON Schema carries the exact range as a pattern', () => {
    const json = z.toJSONSchema(amountSchema) as { pattern: string };
    const re = new RegExp(json.pattern);
    expect(re.test(u128Max.toString())).toBe(true);
    expect(re.test((u128Max + 1n).toString())).toBe(false);
    expect(re.test('01')).toBe(false);
  });
});
