// Gateway webhooks: verify the signature on the raw body, store the event id once, signal the
// owning workflow. A bad signature, a stale timestamp or a malformed body gets 400 and nothing
// is stored or signaled.
import type { Client } from '@temporalio/client';
import express, { Router } from 'express';
import type { Logger } from 'pino';
import type { DatabasePool } from 'slonik';
import Stripe from 'stripe';
import { recordDisputeEvent } from '../../db/disputes';
import { storeWebhookEvent } from '../../db/webhooks';
import { disputeFromWebhook } from '../../domain/dispute-ledger';
import type { PayPalGateway } from '../../gateways/paypal';
import { ApiError } from '../errors';
import { relayWebhookEvent } from '../webhook-relay';

export interface WebhookConfig {
  readonly pool: DatabasePool;
  readonly temporal: Client;
  readonly logger: Logger;
  readonly stripeWebhookSecret?: string;
  readonly paypal?: { readonly gateway: PayPalGateway; readonly webhookId: string };
  /** Seconds a Stripe signature stays valid: older deliveries are replays. */
  readonly toleranceSeconds?: number;
}

const STRIPE_TOLERANCE_SECONDS = 300;

export function webhookRoutes(config: WebhookConfig): Router {
  const router = Router();
  const raw = express.raw({ type: () => true, limit: '256kb' });
  // Only the signature helpers are used: no request leaves this process.
  const stripe = new Stripe('sk_test_webhook_verification_only');

  const accept = async (gateway: 'stripe' | 'paypal', payload: Record<string, unknown>, type: string) => {
    const id = String(payload.id ?? '');
    if (!id) throw new ApiError(400, 'invalid_event', 'event has no id', 'id');
    const isNew = await storeWebhookEvent(config.pool, gateway, type, id, payload);
    // Recorded on every delivery, duplicates too: it is idempotent, and a delivery stored but not
    // recorded (a crash in between) must still be. A failure answers 500 and the gateway retries.
    const dispute = disputeFromWebhook(gateway, payload);
    if (dispute) {
      const recorded = await recordDisputeEvent(config.pool, dispute);
      if (recorded.unbooked) config.logger.error({ disputeId: dispute.disputeId }, recorded.unbooked);
    }
    if (!isNew) return { received: true, duplicate: true };
    try {
      return { received: true, duplicate: false, result: await relayWebhookEvent(config.pool, config.temporal, config.logger, gateway, payload) };
    } catch (error) {
      config.logger.warn({ err: error, gateway, id }, 'webhook stored; signal will be retried');
      return { received: true, duplicate: false, result: 'queued' };
    }
  };

  router.post('/webhooks/stripe', raw, async (req, res) => {
    if (!config.stripeWebhookSecret) throw new ApiError(404, 'not_found', 'Stripe webhooks are not configured');
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.from('');
    let event: Stripe.Event;
    try {
      event = stripe.webhooks.constructEvent(
        body,
        req.header('stripe-signature') ?? '',
        config.stripeWebhookSecret,
        config.toleranceSeconds ?? STRIPE_TOLERANCE_SECONDS,
      );
    } catch (error) {
      throw new ApiError(400, 'invalid_signature', `Stripe-Signature: ${(error as Error).message}`, 'Stripe-Signature');
    }
    res.json(await accept('stripe', event as unknown as Record<string, unknown>, event.type));
  });

  router.post('/webhooks/paypal', raw, async (req, res) => {
    if (!config.paypal) throw new ApiError(404, 'not_found', 'PayPal webhooks are not configured');
    const body = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
    let payload: Record<string, unknown>;
    try {
      payload = JSON.parse(body);
    } catch {
      throw new ApiError(400, 'invalid_json', 'webhook body is not valid JSON');
    }
    let verified: boolean;
    try {
      verified = await config.paypal.gateway.verifyWebhookSignature({
        headers: req.headers as Record<string, string>,
        body,
        webhookId: config.paypal.webhookId,
      });
    } catch {
      // PayPal could not be asked: 503 makes PayPal deliver again later.
      throw new ApiError(503, 'verification_unavailable', 'could not verify the signature now; retry later');
    }
    if (!verified) throw new ApiError(400, 'invalid_signature', 'PayPal signature verification failed', 'PAYPAL-TRANSMISSION-SIG');
    res.json(await accept('paypal', payload, String(payload.event_type)));
  });

  return router;
}
