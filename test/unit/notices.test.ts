import fc from 'fast-check';
import { money } from '../../domain/money';
import {
  cardExpiringNoticeAt,
  cardExpiringNoticeKey,
  formatNoticeDate,
  NOTICE_KINDS,
  noticeIdempotencyKey,
  renderNotice,
  type NoticeContext,
} from '../../domain/notices';

const context: NoticeContext = {
  customerName: 'Ada',
  productName: 'Group Coaching',
  invoiceId: 'in_abc_0003',
  amount: money(150_000, 'USD'),
  updatePaymentUrl: 'https://billing.example.com/update/tok_1',
  nextRetryAt: '2032-03-06T10:00:00.000Z',
  endsAt: '2032-03-19T10:00:00.000Z',
  endAction: 'cancel',
  accessUntil: '2032-03-12T10:00:00.000Z',
};

describe('notices', () => {
  it('keys each notice by kind, invoice and dunning step', () => {
    expect(noticeIdempotencyKey('payment_failed', 'in_abc_0003', 1)).toBe('notice:payment_failed:in_abc_0003:1');
    expect(noticeIdempotencyKey('final_notice', 'in_abc_0003', 4)).toBe('notice:final_notice:in_abc_0003:4');
    expect(() => noticeIdempotencyKey('recovered', 'in:x', 1)).toThrow(RangeError);
    expect(() => noticeIdempotencyKey('recovered', '', 1)).toThrow(RangeError);
  });

  it('formats dates in UTC whatever the locale', () => {
    expect(formatNoticeDate('2032-03-06T10:00:00.000Z')).toBe('March 6, 2032');
    expect(formatNoticeDate('2031-12-31T23:59:59.000Z')).toBe('December 31, 2031');
  });

  it('renders a payment-failed notice', () => {
    const n = renderNotice('payment_failed', context);
    expect(n.subject).toBe('Your payment of $1,500.00 for Group Coaching did not go through');
    expect(n.text).toBe(
      [
        'Hi Ada,',
        '',
        'We could not collect $1,500.00 for Group Coaching.',
        'We will try again on March 6, 2032; there is nothing you need to do if your card is fine.',
        'Your access continues until March 12, 2032 while we sort this out.',
        'You can also use a different card or payment method.',
        'Update your payment method: https://billing.example.com/update/tok_1',
        '',
        'Invoice in_abc_0003',
      ].join('\n'),
    );
  });

  it('renders an action-required notice with the update link and what happens at the end', () => {
    const n = renderNotice('action_required', { ...context, customerAction: 'update_expired_card', nextRetryAt: null });
    expect(n.subject).toBe('Action required: update your payment method for Group Coaching');
    expect(n.text).toContain('Your card has expired, so please update your card details.');
    expect(n.text).toContain('Update your payment method: https://billing.example.com/update/tok_1');
    expect(n.text).toContain('If the invoice is still unpaid on March 19, 2032, your subscription will be canceled.');
  });

  it('renders a final notice, and refuses one without an end', () => {
    const n = renderNotice('final_notice', { ...context, endAction: 'pause' });
    expect(n.subject).toBe('Final notice: Group Coaching ends on March 19, 2032 unless $1,500.00 is paid');
    expect(n.text).toContain('We will make a last attempt on March 6, 2032.');
    expect(n.text).toContain('If it is not paid by March 19, 2032, your subscription will be paused.');
    const { endsAt: _endsAt, ...withoutEnd } = context;
    expect(() => renderNotice('final_notice', withoutEnd)).toThrow(RangeError);
  });

  it('renders a recovered notice', () => {
    expect(renderNotice('recovered', context)).toEqual({
      subject: 'Payment received: $1,500.00 for Group Coaching',
      text: 'Hi Ada,\n\nThank you: we received $1,500.00 for Group Coaching. Your subscription is active again.\n\nInvoice in_abc_0003',
    });
  });

  it('renders a card-expiring notice without card numbers', () => {
    const n = renderNotice('card_expiring_soon', { ...context, card: { brand: 'Visa', last4: '4242', expMonth: 2, expYear: 2032 } });
    expect(n.subject).toBe('Your Visa card ending 4242 expires at the end of 02/2032');
    expect(n.text).toContain('The Visa card ending 4242 that pays for Group Coaching expires at the end of 02/2032.');
    expect(() => renderNotice('card_expiring_soon', context)).toThrow(RangeError);
  });

  it('sends the card-expiring notice 30 days before the card stops working', () => {
    // A 02/2032 card works through Feb 29 (leap year): it stops on Mar 1; 30 days earlier is Jan 31.
    expect(cardExpiringNoticeAt(2, 2032)).toBe('2032-01-31T00:00:00.000Z');
    // 12/2031 stops on Jan 1, 2032; 30 days earlier is Dec 2, 2031.
    expect(cardExpiringNoticeAt(12, 2031)).toBe('2031-12-02T00:00:00.000Z');
    // 02/2031 (28 days) stops on Mar 1, 2031; 30 days earlier is Jan 30.
    expect(cardExpiringNoticeAt(2, 2031)).toBe('2031-01-30T00:00:00.000Z');
    expect(cardExpiringNoticeAt(7, 2032, 7)).toBe('2032-07-25T00:00:00.000Z');
    expect(() => cardExpiringNoticeAt(13, 2032)).toThrow(RangeError);
    expect(cardExpiringNoticeKey('pm_123', 2, 2032)).toBe('notice:card_expiring_soon:pm_123:2032-02');
  });

  it('property: keys differ whenever kind, invoice or step differ', () => {
    const kind = fc.constantFrom(...NOTICE_KINDS);
    const invoice = fc.stringMatching(/^in_[a-z0-9_]{1,12}$/);
    const step = fc.integer({ min: 1, max: 50 });
    fc.assert(
      fc.property(kind, invoice, step, kind, invoice, step, (k1, i1, s1, k2, i2, s2) => {
        const same = k1 === k2 && i1 === i2 && s1 === s2;
        expect(noticeIdempotencyKey(k1, i1, s1) === noticeIdempotencyKey(k2, i2, s2)).toBe(same);
      }),
    );
  });
});
