/**
 * Seeded pseudo-random fractions (mulberry32: 32-bit state, integer arithmetic only), for the
 * inputs of benchmarks and tests that must be the same on every run and every machine, so a
 * figure is comparable and a failure replays from its seed. Not for anything secret, and
 * never read by a reducer (reducers take everything from the events).
 */

/** A generator of numbers in [0, 1); the same seed gives the same sequence. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
