/**
 * Amounts and balances of the ledger: their one text format, its parser and its schema.
 *
 * An **amount** is an unsigned 128-bit integer in minor units, written as its canonical
 * decimal string (DESIGN.md §2): `"0"` or a non-zero digit followed by digits, no sign, no
 * leading zeros, no exponent, no fraction, at most 2^128−1. The formatter writes nothing
 * else, so the parser accepts nothing else (CONVENTIONS.md §6): `"012"`, `"+1"`, `"-0"`,
 * `"1e3"` and `"340282366920938463463374607431768211456"` (2^128) are malformed, which at
 * the edge is a schema error.
 *
 * A **balance** (`account:<id>`.balance) is a signed integer string in the same canonical
 * form with an optional `-` (never `"-0"`), within ±(2^128−1): only accounts opened with
 * `allowNegative` ever hold a negative one.
 *
 * The range check lives in the regular expression itself (generated from 2^128−1 below),
 * so the JSON Schema files in `schemas/events/` enforce exactly what the zod schemas do and
 * an independent validator needs no big-integer arithmetic.
 */
import assert from 'node:assert/strict';
import { z } from 'zod';

/** 2^128 − 1: the largest amount, and the largest magnitude of a balance. */
export const u128Max = (1n << 128n) - 1n;

/**
 * The decimal strings of 1 … `max`, canonical, as a regular expression source (no anchors).
 * Shorter numbers are free; numbers as long as `max` are matched digit by digit: equal to
 * `max` up to some position, then smaller there, then anything.
 */
function upToPattern(max: bigint): string {
  const digits = max.toString();
  const n = digits.length;
  const alternatives = [n > 2 ? `[1-9][0-9]{0,${n - 2}}` : n === 2 ? '[1-9]' : ''];
  for (let i = 0; i < n; i++) {
    const d = digits.charCodeAt(i) - 48;
    const low = i === 0 ? 1 : 0;
    if (d <= low) continue;
    const rest = n - 1 - i;
    const smaller = d - 1 === low ? String(low) : `[${low}-${d - 1}]`;
    alternatives.push(`${digits.slice(0, i)}${smaller}${rest === 0 ? '' : rest === 1 ? '[0-9]' : `[0-9]{${rest}}`}`);
  }
  alternatives.push(digits);
  return alternatives.filter((a) => a !== '').join('|');
}

const positiveSource = upToPattern(u128Max);

/** Canonical decimal 0 … 2^128−1 (ECMA-262 and JSON Schema `pattern` syntax alike; `[0-9]`, not `\d`, which some engines widen to all Unicode digits). */
export const amountPattern = new RegExp(`^(?:0|${positiveSource})$`);
/** Canonical decimal 1 … 2^128−1: the amount of every money movement in an event. */
export const positiveAmountPattern = new RegExp(`^(?:${positiveSource})$`);
/** Canonical signed decimal −(2^128−1) … 2^128−1, never `-0`: a balance. */
export const balancePattern = new RegExp(`^(?:0|-?(?:${positiveSource}))$`);

/** True when `text` is a canonical amount (0 … 2^128−1). */
export function isAmount(text: string): boolean {
  return amountPattern.test(text);
}

/** The value of a canonical amount string, or undefined when `text` is not one (no coercion: `" 1"`, `"01"`, `"1.0"` are undefined). */
export function parseAmount(text: string): bigint | undefined {
  return amountPattern.test(text) ? BigInt(text) : undefined;
}

/** The canonical string of an amount. `amount` outside 0 … 2^128−1 is a programmer error. */
export function formatAmount(amount: bigint): string {
  assert.ok(amount >= 0n && amount <= u128Max, `amount ${amount} is outside 0 … 2^128−1`);
  return amount.toString();
}

/** The value of a canonical balance string (`"-150"`), or undefined when `text` is not one. */
export function parseBalance(text: string): bigint | undefined {
  return balancePattern.test(text) ? BigInt(text) : undefined;
}

/** The canonical string of a balance. A magnitude above 2^128−1 is a programmer error. */
export function formatBalance(balance: bigint): string {
  assert.ok(balance >= -u128Max && balance <= u128Max, `balance ${balance} is outside ±(2^128−1)`);
  return balance.toString();
}

/** An amount in a command: malformed text is a schema error; `"0"` passes and is refused by the guard (LEDGER_AMOUNT_NOT_POSITIVE). */
export const amountSchema = z
  .string()
  .regex(amountPattern, 'amount must be a canonical decimal integer string 0 … 2^128−1 in minor units (no sign, no leading zeros), e.g. "12500"')
  .meta({ description: 'u128 amount in minor units: canonical decimal string 0 … 340282366920938463463374607431768211455' });

/** An amount in an event: deciders never emit a zero movement. */
export const positiveAmountSchema = z
  .string()
  .regex(positiveAmountPattern, 'amount must be a canonical decimal integer string 1 … 2^128−1 in minor units')
  .meta({ description: 'u128 amount in minor units, > 0: canonical decimal string 1 … 340282366920938463463374607431768211455' });
