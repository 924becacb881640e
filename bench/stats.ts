/** Small, dependency-free statistics for benchmark samples. */

/** The value below which `p` percent of the samples fall (nearest-rank method). */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) {
    throw new Error('percentile: no samples');
  }
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function median(samples: readonly number[]): number {
  if (samples.length === 0) {
    throw new Error('median: no samples');
  }
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** The largest sample; unlike `Math.max(...samples)`, safe for any number of samples. */
export function max(samples: readonly number[]): number {
  if (samples.length === 0) {
    throw new Error('max: no samples');
  }
  return samples.reduce((largest, value) => (value > largest ? value : largest), -Infinity);
}

/** Rounds to `digits` decimals, so results files stay readable. */
export function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/**
 * A seeded Park–Miller generator: the same seed gives the same schema and the same reads on every
 * machine, so runs are comparable. Plain arithmetic, exact in doubles.
 */
export class SeededRandom {
  private static readonly MODULUS = 2_147_483_647;
  private state: number;

  constructor(seed: number) {
    this.state = Math.abs(Math.floor(seed)) % SeededRandom.MODULUS || 1;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state * 48_271) % SeededRandom.MODULUS;
    return (this.state - 1) / (SeededRandom.MODULUS - 1);
  }

  /** An integer in [low, high]. */
  int(low: number, high: number): number {
    return low + Math.floor(this.next() * (high - low + 1));
  }
}
