import fc from 'fast-check';
import { classifyDecline, declineCodeOfOutcome, DECLINE_GROUPS, needsCustomer } from '../../domain/declines';

describe('decline classification', () => {
  it.each([
    // Stripe: soft
    ['insufficient_funds', 'soft', 'insufficient_funds', 'none'],
    ['generic_decline', 'soft', 'issuer_decline', 'none'],
    ['do_not_honor', 'soft', 'issuer_decline', 'none'],
    ['processing_error', 'soft', 'temporary_error', 'none'],
    ['try_again_later', 'soft', 'temporary_error', 'none'],
    ['card_velocity_exceeded', 'soft', 'limit_exceeded', 'none'],
    ['gateway_unavailable', 'soft', 'temporary_error', 'none'],
    // Stripe: hard
    ['lost_card', 'hard', 'lost_or_stolen', 'update_payment_method'],
    ['stolen_card', 'hard', 'lost_or_stolen', 'update_payment_method'],
    ['fraudulent', 'hard', 'fraud', 'update_payment_method'],
    ['invalid_account', 'hard', 'account_closed', 'update_payment_method'],
    ['do_not_try_again', 'hard', 'do_not_retry', 'update_payment_method'],
    ['invalid_payment_method', 'hard', 'invalid_card', 'update_payment_method'],
    // expired and action required
    ['expired_card', 'expired', 'expired_card', 'update_expired_card'],
    ['authentication_required', 'action_required', 'authentication', 'authenticate'],
    ['incorrect_cvc', 'action_required', 'card_details', 'update_card_details'],
    ['call_issuer', 'action_required', 'contact_issuer', 'contact_issuer'],
    // PayPal order issues, as the adapter lower-cases them
    ['instrument_declined', 'hard', 'invalid_card', 'update_payment_method'],
    ['payer_account_locked_or_closed', 'hard', 'account_closed', 'update_payment_method'],
    ['card_expired', 'expired', 'expired_card', 'update_expired_card'],
    ['payer_action_required', 'action_required', 'authentication', 'authenticate'],
    ['transaction_refused', 'soft', 'issuer_decline', 'none'],
    ['payee_account_restricted', 'soft', 'merchant_issue', 'none'],
  ] as const)('%s is %s (%s), customer action %s', (code, declineClass, group, customerAction) => {
    const c = classifyDecline(code);
    expect(c).toMatchObject({ code, declineClass, group, customerAction, retryable: declineClass === 'soft' });
    expect(c.description.length).toBeGreaterThan(0);
  });

  it('reads PayPal processor response codes, prefixed by the adapter or bare', () => {
    expect(classifyDecline('processor_declined_9520')).toMatchObject({ code: 'processor_declined_9520', declineClass: 'hard', group: 'lost_or_stolen', retryable: false });
    expect(classifyDecline('processor_declined_5140')).toMatchObject({ declineClass: 'hard', group: 'account_closed' });
    expect(classifyDecline('5120')).toMatchObject({ code: 'processor_declined_5120', declineClass: 'soft', group: 'insufficient_funds', retryable: true });
    expect(classifyDecline('processor_declined_pprn')).toMatchObject({ code: 'processor_declined_pprn', declineClass: 'hard', group: 'do_not_retry' });
    expect(classifyDecline('processor_declined_5400')).toMatchObject({ declineClass: 'expired' });
    expect(classifyDecline('processor_declined_5650')).toMatchObject({ declineClass: 'action_required', customerAction: 'authenticate' });
    expect(classifyDecline('processor_declined_9100')).toMatchObject({ declineClass: 'soft', group: 'issuer_decline' });
    expect(classifyDecline('processor_declined_5920').description).toBe('PayPal processor response 5920: issuer not available, retriable');
  });

  it('normalizes case and spaces', () => {
    expect(classifyDecline('  INSUFFICIENT_FUNDS ')).toMatchObject({ code: 'insufficient_funds', group: 'insufficient_funds' });
    expect(classifyDecline('INSTRUMENT_DECLINED')).toMatchObject({ code: 'instrument_declined', declineClass: 'hard' });
  });

  it('treats an unknown code as a generic soft decline', () => {
    expect(classifyDecline('something_new')).toEqual({
      code: 'something_new',
      declineClass: 'soft',
      group: 'issuer_decline',
      retryable: true,
      customerAction: 'none',
      description: 'unrecognized decline code, treated as a generic decline',
    });
    expect(classifyDecline('processor_declined_0000x').declineClass).toBe('soft');
    expect(classifyDecline('').code).toBe('generic_decline');
  });

  it('gives the code of outcomes that are not declines', () => {
    expect(declineCodeOfOutcome({ status: 'declined', declineCode: 'lost_card' })).toBe('lost_card');
    expect(declineCodeOfOutcome({ status: 'requires_action' })).toBe('authentication_required');
    expect(declineCodeOfOutcome({ status: 'gateway_error' })).toBe('gateway_unavailable');
    expect(classifyDecline(declineCodeOfOutcome({ status: 'requires_action' })).declineClass).toBe('action_required');
  });

  it('treats Object.prototype names as unknown codes, not as table entries', () => {
    // fast-check found this: a plain-object lookup of '__proto__' returned Object.prototype.
    for (const code of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      expect(classifyDecline(code)).toMatchObject({ code: code.toLowerCase(), declineClass: 'soft', group: 'issuer_decline', retryable: true });
    }
  });

  it('property: only soft declines are retryable, and only they need nothing from the customer', () => {
    fc.assert(
      fc.property(fc.string(), (code) => {
        const c = classifyDecline(code);
        expect(c.retryable).toBe(c.declineClass === 'soft');
        expect(needsCustomer(c)).toBe(c.declineClass !== 'soft');
        expect(c.customerAction === 'none').toBe(c.declineClass === 'soft');
        expect(DECLINE_GROUPS).toContain(c.group);
        // Classifying the normalized code again gives the same answer.
        expect(classifyDecline(c.code)).toMatchObject({ declineClass: c.declineClass, group: c.group });
      }),
    );
  });
});
