// Splitting an amount into parts (a discount across invoice lines, an order into installments,
// a credit between net and tax) by cumulative rounding: part i is round(total * weights up to
// and including i / all weights) minus the same for the parts before it. Each boundary is
// rounded once by the project's rule, so the parts always add up to the total exactly and no
// part is ever more than one minor unit away from its exact share.
import { roundHalfAwayFromZero } from './money';

export function allocateByWeights(total: number, weights: readonly number[]): number[] {
  if (!Number.isSafeInteger(total)) throw new RangeError(`total must be an integer, got ${total}`);
  if (weights.some((w) => !Number.isSafeInteger(w) || w < 0)) throw new RangeError('weights must be non-negative integers');
  const weightSum = weights.reduce((s, w) => s + w, 0);
  if (weightSum === 0) {
    if (total !== 0) throw new RangeError('cannot allocate a non-zero total over zero weights');
    return weights.map(() => 0);
  }
  const parts: number[] = [];
  let cumulativeWeight = 0;
  let allocated = 0;
  for (const weight of weights) {
    cumulativeWeight += weight;
    const boundary = roundHalfAwayFromZero(total * cumulativeWeight, weightSum);
    parts.push(boundary - allocated);
    allocated = boundary;
  }
  return parts;
}

/** `count` parts as equal as whole minor units allow, adding up to `total`. */
export function splitEvenly(total: number, count: number): number[] {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`count must be a positive integer, got ${count}`);
  return allocateByWeights(total, Array.from({ length: count }, () => 1));
}
