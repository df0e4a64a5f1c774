// Every workflow the worker registers.
export { subscriptionWorkflow } from './subscription';
export { enterpriseInvoiceWorkflow } from './enterprise-invoice';
export { coursePurchaseWorkflow } from './course-purchase';
export { cardExpiryScanWorkflow } from './card-expiry-scan';
