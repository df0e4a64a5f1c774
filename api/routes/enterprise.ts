// Enterprise invoices on NET terms live in workflows: POST starts one per invoice, GET asks it,
// a payment is an update it validates (partial payments welcome, overpayment refused).
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import { Router } from 'express';
import type { DatabasePool } from 'slonik';
import { z } from 'zod';
import { findCustomer } from '../../db/customers';
import { findInvoiceDetail } from '../../db/enterprise';
import { buildContractInvoice, contractInvoiceId, contractProblem, NET_DAYS, type EnterpriseContract } from '../../domain/enterprise';
import { CURRENCIES } from '../../domain/money';
import { taxTreatmentFor } from '../../domain/tax';
import {
  enterpriseInvoiceWorkflowId,
  getEnterpriseInvoice,
  recordPayment,
  voidInvoice,
  type EnterpriseInvoiceView,
  type RecordPaymentRequest,
} from '../../workflows/enterprise-messages';
import type { enterpriseInvoiceWorkflow } from '../../workflows/enterprise-invoice';
import { TASK_QUEUE } from '../../workflows/messages';
import { requireScope, type Principal } from '../auth';
import { randomBase36 } from '../ids';
import { ApiError, invalidField } from '../errors';
import { claimIdempotencyKey, idempotencyKeyOf } from '../idempotency';
import { paymentMethodToken, parseBody } from '../validation';

const MAX_UNIT_AMOUNT = 100_000_000_000; // one billion in major units
const REFERENCE = /^[\x21-\x7e][\x20-\x7e]{0,99}$/;

export const createEnterpriseInvoiceBody = z
  .object({
    customerId: z.string().regex(/^cus_[A-Za-z0-9]+$/, 'must be a customer id (cus_...)'),
    currency: z.enum(CURRENCIES).default('USD'),
    lineItems: z
      .array(
        z
          .object({
            description: z.string().trim().min(1).max(200),
            unitAmount: z.number().int('must be an integer number of minor units').min(0).max(MAX_UNIT_AMOUNT),
            quantity: z.number().int().min(1).max(100_000),
            unit: z.enum(['seat', 'item']).default('item'),
          })
          .strict(),
      )
      .min(1, 'needs at least one line item')
      .max(50),
    termMonths: z.number().int().min(1).max(120).default(12),
    netDays: z.number().int().min(0).max(120).default(NET_DAYS),
    /** Where the customer is taxed; defaults to the customer's country. */
    taxCountry: z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 code such as GB').optional(),
    /** A VAT/GST registration: a business customer abroad is reverse-charged. */
    vatId: z.string().trim().min(2).max(64).optional(),
    /** When the invoice is issued (default now); NET days run from here. */
    issueAt: z.string().datetime({ offset: true }).optional(),
  })
  .strict();

export const voidInvoiceBody = z.object({ reason: z.string().trim().min(1).max(500) }).strict();

export const recordPaymentBody = z
  .object({
    amount: z.number().int('must be an integer number of minor units').positive(),
    method: z.enum(['bank_transfer', 'card']).default('bank_transfer'),
    reference: z.string().regex(REFERENCE, 'must be 1-100 printable ASCII characters'),
    receivedAt: z.string().datetime({ offset: true }).optional(),
    paymentMethod: paymentMethodToken.optional(),
  })
  .strict()
  .superRefine((value, ctx) => {
    if (value.method === 'card' && !value.paymentMethod) {
      ctx.addIssue({ code: 'custom', path: ['paymentMethod'], message: 'is required for a card payment' });
    }
    if (value.method === 'bank_transfer' && value.paymentMethod) {
      ctx.addIssue({ code: 'custom', path: ['paymentMethod'], message: 'is only for card payments' });
    }
    if (value.method === 'card' && value.receivedAt) {
      ctx.addIssue({ code: 'custom', path: ['receivedAt'], message: 'is only for bank transfers; a card payment is received when charged' });
    }
  });

const INVOICE_ID = /^in_[a-z0-9]{20}_\d{4}$/;

export function enterpriseRoutes(pool: DatabasePool, temporal: Client, taskQueue = TASK_QUEUE): Router {
  const router = Router();

  const describe = async (invoiceId: string): Promise<EnterpriseInvoiceView> => {
    if (!INVOICE_ID.test(invoiceId)) throw new ApiError(404, 'not_found', `enterprise invoice ${invoiceId} does not exist`);
    try {
      return await temporal.workflow.getHandle(enterpriseInvoiceWorkflowId(invoiceId)).query(getEnterpriseInvoice);
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) throw new ApiError(404, 'not_found', `enterprise invoice ${invoiceId} does not exist`);
      throw error;
    }
  };

  router.post('/v1/enterprise/invoices', requireScope('invoices:write'), async (req, res) => {
    const body = parseBody(createEnterpriseInvoiceBody, req.body);
    const key = idempotencyKeyOf(req);
    const customer = await findCustomer(pool, body.customerId);
    if (!customer) throw new ApiError(404, 'not_found', `customerId: customer ${body.customerId} does not exist`, 'customerId');
    const taxCountry = body.taxCountry ?? customer.country;

    const principal = res.locals.principal as Principal;
    const suffix = randomBase36();
    const fresh = contractInvoiceId(`ctr_${suffix}`, 0);
    const { resourceId: invoiceId, replay } = key
      ? await claimIdempotencyKey(pool, { principal, key, body, resourceType: 'enterprise_invoice', newResourceId: fresh })
      : { resourceId: fresh, replay: false };

    if (!replay) {
      const contract: EnterpriseContract = {
        id: `ctr_${suffix}`,
        customerId: body.customerId,
        currency: body.currency,
        startsAt: new Date(body.issueAt ?? Date.now()).toISOString(),
        termMonths: body.termMonths,
        billing: 'upfront',
        lineItems: body.lineItems.map((item, i) => ({ id: `li_${i + 1}`, ...item })),
        netDays: body.netDays,
      };
      const problem = contractProblem(contract);
      if (problem) throw invalidField('lineItems', problem);
      const tax = taxCountry ? taxTreatmentFor({ country: taxCountry, vatId: body.vatId ?? null }) : undefined;
      try {
        const invoice = buildContractInvoice(contract, 0, tax);
        if (!Number.isSafeInteger(invoice.total)) throw new RangeError('the invoice total is too large');
      } catch (error) {
        if (error instanceof RangeError) throw invalidField('lineItems', error.message);
        throw error;
      }
      try {
        await temporal.workflow.start<typeof enterpriseInvoiceWorkflow>('enterpriseInvoiceWorkflow', {
          workflowId: enterpriseInvoiceWorkflowId(invoiceId),
          taskQueue,
          // One invoice, one workflow, forever: a repeated start must not issue a second one.
          workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
          args: [{ contract, ...(tax ? { tax } : {}) }],
        });
      } catch (error) {
        if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
      }
    }
    res.status(replay ? 200 : 201).json(await describe(invoiceId));
  });

  router.get('/v1/enterprise/invoices/:id', requireScope('invoices:read'), async (req, res) => {
    res.json(await describe(String(req.params.id)));
  });

  router.post('/v1/enterprise/invoices/:id/payments', requireScope('invoices:write'), async (req, res) => {
    const body = parseBody(recordPaymentBody, req.body);
    const invoiceId = String(req.params.id);
    const request: RecordPaymentRequest = {
      amount: body.amount,
      method: body.method,
      reference: body.reference,
      ...(body.receivedAt ? { receivedAt: new Date(body.receivedAt).toISOString() } : {}),
      ...(body.paymentMethod ? { paymentMethodToken: body.paymentMethod } : {}),
    };
    await describe(invoiceId); // 404 for an unknown invoice
    try {
      const view = await temporal.workflow.getHandle(enterpriseInvoiceWorkflowId(invoiceId)).executeUpdate(recordPayment, { args: [request] });
      res.json(view);
    } catch (error) {
      if (error instanceof WorkflowUpdateFailedError) {
        throw new ApiError(409, 'payment_rejected', `payment refused: ${error.cause?.message ?? error.message}`);
      }
      if (error instanceof WorkflowNotFoundError) {
        // The workflow has completed: the invoice was paid in full or voided meanwhile.
        const detail = await findInvoiceDetail(pool, invoiceId);
        if (detail) throw new ApiError(409, 'payment_rejected', `payment refused: invoice ${invoiceId} is ${detail.status}`);
      }
      throw error;
    }
  });

  router.post('/v1/enterprise/invoices/:id/void', requireScope('invoices:write'), async (req, res) => {
    const body = parseBody(voidInvoiceBody, req.body);
    const invoiceId = String(req.params.id);
    await describe(invoiceId);
    try {
      res.json(await temporal.workflow.getHandle(enterpriseInvoiceWorkflowId(invoiceId)).executeUpdate(voidInvoice, { args: [{ reason: body.reason }] }));
    } catch (error) {
      if (error instanceof WorkflowUpdateFailedError) {
        throw new ApiError(409, 'invalid_state', `cannot void: ${error.cause?.message ?? error.message}`);
      }
      if (error instanceof WorkflowNotFoundError) {
        const detail = await findInvoiceDetail(pool, invoiceId);
        if (detail) throw new ApiError(409, 'invalid_state', `cannot void: invoice ${invoiceId} is ${detail.status}`);
      }
      throw error;
    }
  });

  return router;
}
