// Lifecycle changes over HTTP: API -> Temporal dev server (updates and their validators) ->
// worker -> Stripe simulator -> PostgreSQL. Refusals are 409s that carry the workflow's reason
// and change nothing; malformed bodies are 400s naming the field and reach no workflow.
import { insertCoupon } from '../../db/purchases';
import { listSubscriptionInvoices } from '../../db/invoices';
import { waitFor } from '../support/environment';
import { request, startStack, type Stack } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.close();
});

describe('subscription lifecycle over HTTP', () => {
  it('upgrades with a charged proration invoice, refuses invalid changes with the reason, pauses and resumes', async () => {
    const apiKey = await stack.apiKey();
    const api = (method: string, path: string, body?: unknown) => request(stack.baseUrl, method, path, { apiKey, body });

    const customer = await api('POST', '/v1/customers', { email: 'grace@example.com', name: 'Grace Hopper', country: 'US' });
    const created = await api('POST', '/v1/subscriptions', { customerId: customer.body.id, plan: 'community', interval: 'month', paymentMethod: 'pm_card_visa', trial: false });
    expect(created.status).toBe(201);
    const id: string = created.body.subscriptionId;
    const active = await waitFor(async () => {
      const view = await api('GET', `/v1/subscriptions/${id}`);
      return view.body.status === 'active' ? view.body : null;
    }, 'the first payment');

    // Refused by the workflow's validators: 409 with its sentence, nothing changed.
    const resume = await api('POST', `/v1/subscriptions/${id}/resume`, {});
    expect(resume.status).toBe(409);
    expect(resume.body.error.message).toBe('cannot resume: subscription is active, not paused; only a paused subscription can be resumed');
    const same = await api('POST', `/v1/subscriptions/${id}/plan`, { plan: 'community', interval: 'month' });
    expect(same.status).toBe(409);
    expect(same.body.error.message).toBe('cannot change the plan: subscription is already on Community Access (monthly); there is nothing to change');
    // Refused at the edge: 400 naming the field.
    const badPause = await api('POST', `/v1/subscriptions/${id}/pause`, { anchor: 'sideways' });
    expect(badPause.status).toBe(400);
    expect(badPause.body.error.field).toBe('anchor');
    await insertCoupon(stack.pool, {
      id: `OLD_${id}`,
      name: 'Expired',
      discount: { kind: 'percent', basisPoints: 1000 },
      duration: { kind: 'once' },
      redeemBy: '2020-01-01T00:00:00.000Z',
    });
    const expired = await api('POST', `/v1/subscriptions/${id}/coupon`, { couponCode: `OLD_${id}` });
    expect(expired.status).toBe(400);
    expect(expired.body.error).toMatchObject({ field: 'couponCode', message: `couponCode: coupon OLD_${id} expired on 2020-01-01` });
    expect((await api('GET', `/v1/subscriptions/${id}`)).body).toEqual(active);

    // Up to Elite: the rest of the period is prorated and charged at once, on its own invoice.
    const upgrade = await api('POST', `/v1/subscriptions/${id}/plan`, { plan: 'elite', interval: 'month' });
    expect(upgrade.status).toBe(200);
    expect(upgrade.body).toMatchObject({ kind: 'change_plan', timing: 'now' });
    expect(upgrade.body.subscription.plan.planId).toBe('elite');
    const prorationId: string = upgrade.body.invoiceId;
    const proration = await waitFor(
      async () => (await listSubscriptionInvoices(stack.pool, id)).find((i) => i.id === prorationId && i.status === 'paid'),
      'the proration invoice to be paid',
    );
    expect(proration.total).toBe(upgrade.body.amountDue);
    const charges = (await stack.simulator.charges()).filter((c) => c.metadata.invoice_id === prorationId);
    expect(charges.map((c) => c.amount)).toEqual([upgrade.body.amountDue]);

    const paused = await api('POST', `/v1/subscriptions/${id}/pause`, { anchor: 'shift' });
    expect(paused.status).toBe(200);
    expect(paused.body.subscription).toMatchObject({ status: 'paused', nextCharge: null, access: { granted: false, reason: 'paused' } });
    const resumed = await api('POST', `/v1/subscriptions/${id}/resume`, {});
    expect(resumed.status).toBe(200);
    // Shift: the next charge moves by the whole calendar (UTC) days paused; 0 unless the test
    // straddled midnight.
    const utcDay = (instant: string) => Math.floor(Date.parse(instant) / 86_400_000);
    const daysPaused = utcDay(resumed.body.effectiveAt) - utcDay(paused.body.effectiveAt);
    expect(resumed.body.subscription.status).toBe('active');
    expect(Date.parse(resumed.body.subscription.nextCharge.at) - Date.parse(active.nextCharge.at)).toBe(daysPaused * 86_400_000);

    const unknown = await api('POST', '/v1/subscriptions/sub_doesnotexist0000000/pause', {});
    expect(unknown.status).toBe(404);
    expect((await api('POST', `/v1/subscriptions/${id}/cancel`, { when: 'now' })).status).toBe(200);
  });
});
