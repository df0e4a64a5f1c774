import fc from 'fast-check';
import { add, formatMoney, money, MoneyError, multiplyRatio, percentOf, roundHalfAwayFromZero, subtract, sum } from '../../domain/money';

describe('money', () => {
  it('rejects fractional, unsafe and non-numeric amounts', () => {
    expect(() => money(97.5, 'USD')).toThrow(MoneyError);
    expect(() => money(Number.MAX_SAFE_INTEGER + 1, 'USD')).toThrow(MoneyError);
    expect(() => money(Number.NaN, 'USD')).toThrow(MoneyError);
    expect(() => money(100, 'JPY' as never)).toThrow('unsupported currency JPY');
  });

  it('never mixes currencies', () => {
    expect(() => add(money(1, 'USD'), money(1, 'EUR'))).toThrow('cannot combine USD with EUR');
  });

  it('adds, subtracts and sums in minor units', () => {
    expect(add(money(9700, 'USD'), money(300, 'USD'))).toEqual({ amount: 10000, currency: 'USD' });
    expect(subtract(money(9700, 'USD'), money(9800, 'USD'))).toEqual({ amount: -100, currency: 'USD' });
    expect(sum('GBP', [money(1, 'GBP'), money(2, 'GBP'), money(3, 'GBP')])).toEqual({ amount: 6, currency: 'GBP' });
    expect(sum('EUR', [])).toEqual({ amount: 0, currency: 'EUR' });
  });

  it('rounds half away from zero', () => {
    expect(roundHalfAwayFromZero(5, 2)).toBe(3); // 2.5 -> 3
    expect(roundHalfAwayFromZero(-5, 2)).toBe(-3); // -2.5 -> -3
    expect(roundHalfAwayFromZero(7, 3)).toBe(2); // 2.33 -> 2
    expect(roundHalfAwayFromZero(8, 3)).toBe(3); // 2.67 -> 3
    expect(roundHalfAwayFromZero(0, 7)).toBe(0);
  });

  it('takes percentages in basis points', () => {
    // 10% of $5,000.00 = $500.00; 20% of $997.00 = $199.40; 7.25% of $97.00 = $7.0325 -> $7.03
    expect(percentOf(money(500000, 'USD'), 1000).amount).toBe(50000);
    expect(percentOf(money(99700, 'USD'), 2000).amount).toBe(19940);
    expect(percentOf(money(9700, 'USD'), 725).amount).toBe(703);
    // 9700 * 9 / 31 = 2816.13 -> 2816
    expect(multiplyRatio(money(9700, 'USD'), 9, 31).amount).toBe(2816);
  });

  it('formats for display', () => {
    expect(formatMoney(money(500000, 'USD'))).toBe('$5,000.00');
    expect(formatMoney(money(-1250, 'EUR'))).toBe('-€12.50');
    expect(formatMoney(money(5, 'GBP'))).toBe('£0.05');
  });

  it('property: rounding is within half a unit of the exact ratio', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1e9, max: 1e9 }), fc.integer({ min: 1, max: 1e6 }), (n, d) => {
        const r = roundHalfAwayFromZero(n, d);
        expect(Math.abs(r * d - n) * 2).toBeLessThanOrEqual(d);
      }),
    );
  });

  it('property: a split into parts by ratio never loses more than one unit per part', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e8 }), fc.integer({ min: 1, max: 31 }), (amount, days) => {
        const whole = money(amount, 'USD');
        const parts = Array.from({ length: days }, () => multiplyRatio(whole, 1, days));
        expect(Math.abs(sum('USD', parts).amount - amount)).toBeLessThanOrEqual(days);
      }),
    );
  });
});
