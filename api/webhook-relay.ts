// From a stored gateway event to a signal of the workflow that owns it. Events are stored
// before they are relayed, so a workflow that cannot be reached right now gets the event later
// from relayPendingWebhooks instead of losing it.
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { DatabasePool } from 'slonik';
import { markWebhookSignaled, owningSubscription, unsignaledWebhookEvents } from '../db/webhooks';
import { normalisePayPalEvent, normaliseStripeEvent } from '../domain/gateway-events';
import { gatewayEventReceived, subscriptionWorkflowId } from '../workflows/messages';

export type RelayResult = 'signaled' | 'ignored' | 'no_owner';

export async function relayWebhookEvent(
  pool: DatabasePool,
  temporal: Client,
  logger: Logger,
  gateway: 'stripe' | 'paypal',
  payload: Record<string, unknown>,
): Promise<RelayResult> {
  const id = String(payload.id);
  const event = gateway === 'stripe' ? normaliseStripeEvent(payload) : normalisePayPalEvent(payload);
  let result: RelayResult;
  if (!event) {
    logger.info({ gateway, id, type: payload.type ?? payload.event_type }, 'webhook event type not acted on; acknowledged');
    result = 'ignored';
  } else {
    const subscriptionId = await owningSubscription(pool, event);
    if (!subscriptionId) {
      logger.warn({ gateway, id, kind: event.kind }, 'webhook event has no owning subscription');
      result = 'no_owner';
    } else {
      // Throws when Temporal cannot be reached: the event stays unsignaled for the relay loop.
      await temporal.workflow.getHandle(subscriptionWorkflowId(subscriptionId)).signal(gatewayEventReceived, event);
      result = 'signaled';
    }
  }
  await markWebhookSignaled(pool, gateway, id);
  return result;
}

/** Signals every stored event not yet signaled; returns how many went through. */
export async function relayPendingWebhooks(pool: DatabasePool, temporal: Client, logger: Logger): Promise<number> {
  let relayed = 0;
  for (const row of await unsignaledWebhookEvents(pool)) {
    try {
      await relayWebhookEvent(pool, temporal, logger, row.gateway as 'stripe' | 'paypal', row.payload);
      relayed += 1;
    } catch (error) {
      logger.warn({ err: error, gateway: row.gateway }, 'webhook relay failed; will retry');
    }
  }
  return relayed;
}
