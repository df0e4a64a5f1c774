// Seeded randomness for the simulations (never for domain code). Two kinds:
//  - Rng: a sequential generator (sfc32) for drawing populations;
//  - u01(...keys): a counter-based uniform keyed by integers (customer seed, stream, hour, ...),
//    so that two policies that try the same customer at the same hour see the same gateway noise
//    and the same spending on the same day: policy comparisons use common random numbers.

function mix32(x: number): number {
  let h = x | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

export function hash32(...keys: number[]): number {
  let h = 0x9e3779b9;
  for (const k of keys) h = mix32(h ^ mix32((k | 0) ^ Math.imul(Math.floor(k / 4294967296) | 0, 0x27d4eb2f)) ^ 0x85ebca6b);
  return h;
}

/** A uniform number in [0, 1) determined by the keys. */
export function u01(...keys: number[]): number {
  return hash32(...keys) / 4294967296;
}

/** A standard normal determined by the keys (Box-Muller on two keyed uniforms). */
export function normal01(...keys: number[]): number {
  const a = Math.max(u01(...keys, 1), 1e-12);
  const b = u01(...keys, 2);
  return Math.sqrt(-2 * Math.log(a)) * Math.cos(2 * Math.PI * b);
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.next();
  }

  /** sfc32: a small fast counter generator, uniform in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  int(minInclusive: number, maxInclusive: number): number {
    return minInclusive + Math.floor(this.next() * (maxInclusive - minInclusive + 1));
  }

  normal(): number {
    const a = Math.max(this.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(a)) * Math.cos(2 * Math.PI * this.next());
  }

  /** Log-normal with the given median and log-space standard deviation. */
  logNormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }

  exponential(mean: number): number {
    return -mean * Math.log(1 - this.next());
  }

  pick<T>(weighted: readonly (readonly [T, number])[]): T {
    const total = weighted.reduce((s, [, w]) => s + w, 0);
    let x = this.next() * total;
    for (const [value, w] of weighted) {
      x -= w;
      if (x < 0) return value;
    }
    return weighted[weighted.length - 1]![0];
  }
}
