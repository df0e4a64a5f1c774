// What a declined payment means for dunning. Every gateway's decline codes (Stripe's decline
// codes, PayPal's order issues and processor response codes, as the adapters normalize them)
// fall into four classes:
//
//   hard             the payment method will not work again (lost, stolen, fraud, closed or
//                    invalid account, "do not try again"): never retried blindly, the customer is
//                    asked for a new payment method. Retrying these also risks network fines.
//   expired          the card is past its expiry date: the customer is asked to update the card.
//   action_required  the method may work once the customer acts (authenticates, fixes the card
//                    details, calls the issuer): not retried blindly either.
//   soft             a temporary refusal (insufficient funds, issuer risk rules, processing
//                    errors, limits): retried on the dunning schedule.
//
// A code nobody listed is treated as a generic soft decline: that is what the issuers' generic
// codes mean, and what Stripe and PayPal advise for them. The table is data, not logic, so that
// adding a code is a one-line change with its reason next to it.

export const DECLINE_CLASSES = ['hard', 'expired', 'action_required', 'soft'] as const;
export type DeclineClass = (typeof DECLINE_CLASSES)[number];

/** Finer than the class: what the retry model learns separately, and what a notice can say. */
export const DECLINE_GROUPS = [
  // soft
  'insufficient_funds',
  'issuer_decline',
  'temporary_error',
  'limit_exceeded',
  'merchant_issue',
  // action_required
  'authentication',
  'card_details',
  'contact_issuer',
  // expired
  'expired_card',
  // hard
  'lost_or_stolen',
  'fraud',
  'account_closed',
  'invalid_card',
  'not_supported',
  'do_not_retry',
] as const;
export type DeclineGroup = (typeof DECLINE_GROUPS)[number];

export type CustomerAction =
  | 'none'
  | 'update_payment_method'
  | 'update_expired_card'
  | 'update_card_details'
  | 'authenticate'
  | 'contact_issuer';

export interface DeclineClassification {
  /** The code as classified: lower case, PayPal processor codes as `processor_declined_<code>`. */
  readonly code: string;
  readonly declineClass: DeclineClass;
  readonly group: DeclineGroup;
  /** True when an automatic retry of the same payment method may succeed. */
  readonly retryable: boolean;
  /** What the customer is asked to do; 'none' when retries alone may recover the payment. */
  readonly customerAction: CustomerAction;
  /** Why, in a sentence for logs, the dashboard and the attempt's stored reason. */
  readonly description: string;
}

const CLASS_OF_GROUP: Readonly<Record<DeclineGroup, DeclineClass>> = {
  insufficient_funds: 'soft',
  issuer_decline: 'soft',
  temporary_error: 'soft',
  limit_exceeded: 'soft',
  merchant_issue: 'soft',
  authentication: 'action_required',
  card_details: 'action_required',
  contact_issuer: 'action_required',
  expired_card: 'expired',
  lost_or_stolen: 'hard',
  fraud: 'hard',
  account_closed: 'hard',
  invalid_card: 'hard',
  not_supported: 'hard',
  do_not_retry: 'hard',
};

const ACTION_OF_GROUP: Readonly<Record<DeclineGroup, CustomerAction>> = {
  insufficient_funds: 'none',
  issuer_decline: 'none',
  temporary_error: 'none',
  limit_exceeded: 'none',
  merchant_issue: 'none',
  authentication: 'authenticate',
  card_details: 'update_card_details',
  contact_issuer: 'contact_issuer',
  expired_card: 'update_expired_card',
  lost_or_stolen: 'update_payment_method',
  fraud: 'update_payment_method',
  account_closed: 'update_payment_method',
  invalid_card: 'update_payment_method',
  not_supported: 'update_payment_method',
  do_not_retry: 'update_payment_method',
};

type Entry = readonly [DeclineGroup, string];

// Stripe decline codes (https://docs.stripe.com/declines/codes), Stripe error codes the adapter
// passes through when a card error has no decline code, PayPal order issues (lower-cased by the
// adapter) and the project's own codes.
const CODES: Readonly<Record<string, Entry>> = {
  // --- soft: insufficient funds
  insufficient_funds: ['insufficient_funds', 'the account has insufficient funds'],
  // --- soft: the issuer said no without a lasting reason
  generic_decline: ['issuer_decline', 'generic decline by the issuer'],
  card_declined: ['issuer_decline', 'declined by the issuer without a reason'],
  do_not_honor: ['issuer_decline', 'the issuer declined without saying why (often funds or risk rules)'],
  approve_with_id: ['issuer_decline', 'the issuer could not authorize this payment now'],
  no_action_taken: ['issuer_decline', 'the issuer declined without saying why'],
  transaction_refused: ['issuer_decline', 'PayPal refused the transaction'],
  // --- soft: transient errors on the way
  processing_error: ['temporary_error', 'an error occurred while processing the card'],
  try_again_later: ['temporary_error', 'the issuer asked to try again later'],
  reenter_transaction: ['temporary_error', 'the issuer could not process the payment this time'],
  issuer_not_available: ['temporary_error', 'the issuer could not be reached'],
  duplicate_transaction: ['temporary_error', 'an identical payment was submitted moments before'],
  gateway_unavailable: ['temporary_error', 'the payment gateway was unreachable'],
  // --- soft: limits that reset with time
  card_velocity_exceeded: ['limit_exceeded', 'the card exceeded its balance, credit or velocity limit'],
  withdrawal_count_limit_exceeded: ['limit_exceeded', 'the card exceeded its credit or withdrawal limit'],
  transaction_limit_exceeded: ['limit_exceeded', 'the amount exceeds the account limit for now'],
  // --- soft, on our side: retrying may succeed once the merchant account is fixed
  payee_account_restricted: ['merchant_issue', 'our PayPal account is restricted'],
  payee_account_locked_or_closed: ['merchant_issue', 'our PayPal account is locked or closed'],
  testmode_decline: ['merchant_issue', 'a test card was used against a live account'],
  // --- action required: authentication
  authentication_required: ['authentication', 'the issuer requires the customer to authenticate'],
  requires_action: ['authentication', 'the payment needs the customer to authenticate'],
  payer_action_required: ['authentication', 'PayPal requires the payer to approve the payment'],
  // --- action required: card details the customer must correct
  incorrect_cvc: ['card_details', 'the security code is incorrect'],
  invalid_cvc: ['card_details', 'the security code is invalid'],
  incorrect_zip: ['card_details', 'the postal code is incorrect'],
  incorrect_pin: ['card_details', 'the PIN is incorrect'],
  invalid_pin: ['card_details', 'the PIN is invalid'],
  offline_pin_required: ['card_details', 'the card requires a PIN'],
  online_or_offline_pin_required: ['card_details', 'the card requires a PIN'],
  // --- action required: the customer has to talk to the bank
  call_issuer: ['contact_issuer', 'the issuer asks the customer to call'],
  pin_try_exceeded: ['contact_issuer', 'too many PIN attempts; the issuer must unlock the card'],
  invalid_amount: ['contact_issuer', 'the amount exceeds what the issuer allows for this card'],
  // --- expired
  expired_card: ['expired_card', 'the card has expired'],
  card_expired: ['expired_card', 'the card has expired'],
  invalid_expiry_month: ['expired_card', 'the expiry month is invalid'],
  invalid_expiry_year: ['expired_card', 'the expiry year is invalid'],
  // --- hard: the card is gone
  lost_card: ['lost_or_stolen', 'the card was reported lost'],
  stolen_card: ['lost_or_stolen', 'the card was reported stolen'],
  pickup_card: ['lost_or_stolen', 'the issuer asked to retain the card (likely lost or stolen)'],
  // --- hard: fraud
  fraudulent: ['fraud', 'the issuer suspects fraud'],
  merchant_blacklist: ['fraud', 'the payment matched a block list'],
  security_violation: ['fraud', 'the issuer reported a security violation'],
  // --- hard: the account behind the method is closed or invalid
  invalid_account: ['account_closed', 'the card or account is invalid or closed'],
  account_closed: ['account_closed', 'the account is closed'],
  card_closed: ['account_closed', 'the card is closed'],
  payer_account_locked_or_closed: ['account_closed', "the payer's PayPal account is locked or closed"],
  payer_account_restricted: ['account_closed', "the payer's PayPal account is restricted"],
  new_account_information_available: ['account_closed', 'the card was replaced; new account details exist'],
  // --- hard: this method cannot pay us
  incorrect_number: ['invalid_card', 'the card number is incorrect'],
  invalid_number: ['invalid_card', 'the card number is invalid'],
  invalid_payment_method: ['invalid_card', 'the saved payment method no longer exists at the gateway'],
  restricted_card: ['invalid_card', 'the card cannot be used for this payment'],
  instrument_declined: ['invalid_card', 'PayPal declined the funding instrument; another one is needed'],
  payer_cannot_pay: ['invalid_card', 'PayPal says the payer cannot pay with this account'],
  redirect_payer_for_alternate_funding: ['invalid_card', 'PayPal needs another funding source'],
  max_number_of_payment_attempts_exceeded: ['invalid_card', 'PayPal allows no more attempts with this instrument'],
  card_not_supported: ['not_supported', 'the card does not support this kind of purchase'],
  currency_not_supported: ['not_supported', 'the card does not support the currency'],
  transaction_not_allowed: ['not_supported', 'the card does not allow this transaction'],
  not_permitted: ['not_supported', 'the payment is not permitted'],
  service_not_allowed: ['not_supported', 'the card does not allow this service'],
  // --- hard: the customer or issuer revoked recurring charges
  do_not_try_again: ['do_not_retry', 'the issuer says never to retry this card'],
  revocation_of_authorization: ['do_not_retry', 'the customer revoked the recurring authorization'],
  revocation_of_all_authorizations: ['do_not_retry', 'the customer revoked all recurring authorizations'],
  stop_payment_order: ['do_not_retry', 'the customer placed a stop-payment order'],
};

// PayPal processor response codes (captures[].processor_response.response_code). The adapter
// maps the common ones to Stripe's vocabulary and passes the others as processor_declined_<code>.
const PAYPAL_PROCESSOR_CODES: Readonly<Record<string, Entry>> = {
  '00N7': ['card_details', 'CVV2 failure'],
  '0100': ['contact_issuer', 'referral: the issuer asks the customer to call'],
  '0390': ['account_closed', 'account not found'],
  '0500': ['issuer_decline', 'do not honor'],
  '0580': ['not_supported', 'unauthorized transaction'],
  '0800': ['temporary_error', 'bad response, reversal required'],
  '0880': ['temporary_error', 'cryptographic failure'],
  '0890': ['not_supported', 'unaccepted payment'],
  '0960': ['temporary_error', 'system malfunction'],
  '1310': ['contact_issuer', 'invalid amount'],
  '1330': ['account_closed', 'invalid account'],
  '1335': ['invalid_card', 'account not set up for recurring payments'],
  '1352': ['account_closed', 'restricted or inactive account'],
  '1380': ['expired_card', 'invalid expiration'],
  '1382': ['card_details', 'invalid card verification value'],
  '5100': ['issuer_decline', 'generic decline'],
  '5110': ['card_details', 'CVV2 failure'],
  '5120': ['insufficient_funds', 'insufficient funds'],
  '5130': ['card_details', 'invalid PIN'],
  '5135': ['contact_issuer', 'PIN tries exceeded'],
  '5140': ['account_closed', 'card closed'],
  '5150': ['lost_or_stolen', 'pick up card, special conditions'],
  '5160': ['not_supported', 'unauthorized user'],
  '5170': ['card_details', 'address verification failed'],
  '5180': ['invalid_card', 'invalid or restricted card'],
  '5200': ['temporary_error', 'duplicate transaction'],
  '5210': ['not_supported', 'invalid transaction'],
  '5400': ['expired_card', 'expired card'],
  '5650': ['authentication', 'strong customer authentication required'],
  '5700': ['not_supported', 'transaction not permitted'],
  '5710': ['limit_exceeded', 'transaction attempts exceed the limit'],
  '5910': ['contact_issuer', 'issuer not available, not retriable'],
  '5920': ['temporary_error', 'issuer not available, retriable'],
  '5930': ['contact_issuer', 'card not activated'],
  '5950': ['expired_card', 'declined because the account was updated (new card issued)'],
  '9100': ['issuer_decline', 'declined, please retry'],
  '9500': ['fraud', 'suspected fraud'],
  '9510': ['fraud', 'security violation'],
  '9520': ['lost_or_stolen', 'lost or stolen card'],
  '9540': ['invalid_card', 'refused card'],
  '9600': ['issuer_decline', 'unrecognized response code'],
  PCNR: ['authentication', 'contingencies not resolved'],
  PCVV: ['card_details', 'CVV failure'],
  PP06: ['account_closed', 'account closed'],
  PPAB: ['account_closed', 'account blocked by the issuer'],
  PPAX: ['limit_exceeded', 'amount exceeded'],
  PPD3: ['authentication', '3-D Secure error'],
  PPDT: ['limit_exceeded', 'decline threshold breached'],
  PPEF: ['expired_card', 'expired funding instrument'],
  PPEL: ['limit_exceeded', 'exceeds frequency limit'],
  PPER: ['temporary_error', 'internal system error'],
  PPEX: ['expired_card', 'expiry date'],
  PPFI: ['invalid_card', 'invalid funding instrument'],
  PPFR: ['invalid_card', 'restricted funding instrument'],
  PPNL: ['limit_exceeded', 'exceeds network frequency limit'],
  PPNT: ['temporary_error', 'network error'],
  PPRN: ['do_not_retry', 'reattempt not permitted'],
};

const PROCESSOR_PREFIX = 'processor_declined_';

function build(code: string, [group, description]: Entry): DeclineClassification {
  const declineClass = CLASS_OF_GROUP[group];
  return { code, declineClass, group, retryable: declineClass === 'soft', customerAction: ACTION_OF_GROUP[group], description };
}

/** Classifies a decline code from any gateway; unknown codes are generic soft declines. */
export function classifyDecline(declineCode: string): DeclineClassification {
  const normalized = declineCode.trim().toLowerCase();
  // Own properties only: a code such as '__proto__' must not find Object.prototype.
  const known = Object.hasOwn(CODES, normalized) ? CODES[normalized] : undefined;
  if (known) return build(normalized, known);
  // processor_declined_5120 from the PayPal adapter, or a bare processor code such as 5120 / PPRN.
  const processorCode = (normalized.startsWith(PROCESSOR_PREFIX) ? normalized.slice(PROCESSOR_PREFIX.length) : normalized).toUpperCase();
  const processor = Object.hasOwn(PAYPAL_PROCESSOR_CODES, processorCode) ? PAYPAL_PROCESSOR_CODES[processorCode] : undefined;
  if (processor) return build(`${PROCESSOR_PREFIX}${processorCode.toLowerCase()}`, [processor[0], `PayPal processor response ${processorCode}: ${processor[1]}`]);
  return build(normalized === '' ? 'generic_decline' : normalized, ['issuer_decline', `unrecognized decline code, treated as a generic decline`]);
}

/** Never retry a method blindly after this decline: true for hard, expired and action-required. */
export function needsCustomer(classification: DeclineClassification): boolean {
  return !classification.retryable;
}

/**
 * The decline code dunning should classify for a non-succeeded charge outcome, whatever its
 * status: a requires_action outcome is an authentication decline, a clear gateway error a
 * temporary one (ambiguous ones are resolved by the router before dunning sees them).
 */
export function declineCodeOfOutcome(
  outcome:
    | { readonly status: 'declined'; readonly declineCode: string }
    | { readonly status: 'requires_action' }
    | { readonly status: 'gateway_error' },
): string {
  switch (outcome.status) {
    case 'declined':
      return outcome.declineCode;
    case 'requires_action':
      return 'authentication_required';
    case 'gateway_error':
      return 'gateway_unavailable';
  }
}
