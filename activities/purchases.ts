// Side effects of one-time course purchases. Charging reuses the billing activity (same
// idempotency key per invoice attempt, same attempt records and ledger postings); the rest
// writes the order's read model and its course access. Every activity is idempotent.
import { recordIssuedInvoice, markInvoicePaid } from '../db/invoices';
import {
  grantCourseAccess,
  placeCourseOrder,
  recordOrderProgress,
  revokeCourseAccess,
  type OrderProgress,
  type PlacedCourseOrder,
  type PlaceOrderResult,
} from '../db/purchases';
import type { Invoice } from '../domain/invoice';
import { createBillingActivities, type BillingDependencies, type ChargeInvoiceRequest, type ChargeInvoiceResult } from './billing';

export type PurchaseDependencies = BillingDependencies;

export function createPurchaseActivities(deps: PurchaseDependencies) {
  const { pool } = deps;
  const billing = createBillingActivities(deps);
  return {
    /** Writes the order (items, installments, coupon redemption) or, past a redemption limit, nothing. */
    async placeCourseOrder(order: PlacedCourseOrder): Promise<PlaceOrderResult> {
      return placeCourseOrder(pool, order);
    },

    async ensureOrderGatewayCustomer(customerId: string): Promise<string> {
      return billing.ensureGatewayCustomer(customerId);
    },

    /** Issues an installment's (or the whole order's) invoice; a free one is settled at once. */
    async issueOrderInvoice(invoice: Invoice): Promise<{ number: string }> {
      const issued = await recordIssuedInvoice(pool, invoice);
      if (invoice.total === 0) await markInvoicePaid(pool, invoice.id, 0, invoice.issuedAt);
      return issued;
    },

    async chargeOrderInvoice(request: ChargeInvoiceRequest): Promise<ChargeInvoiceResult> {
      return billing.chargeInvoice(request);
    },

    async recordOrderProgress(progress: OrderProgress): Promise<void> {
      await pool.transaction((tx) => recordOrderProgress(tx, progress));
    },

    async grantCourseAccess(grant: { orderId: string; customerId: string; courseIds: readonly string[]; grantedAt: string }): Promise<void> {
      await pool.transaction((tx) => grantCourseAccess(tx, grant));
    },

    async revokeCourseAccess(revocation: { orderId: string; at: string; reason: string }): Promise<void> {
      await revokeCourseAccess(pool, revocation);
    },
  };
}

export type PurchaseActivities = ReturnType<typeof createPurchaseActivities>;
