// What the payment reminders of an enterprise invoice (NET terms) and the operators' past-due
// alert say, and how each is keyed in the notification outbox: one key per invoice and
// reminder, so a retried activity or a replayed workflow never enqueues the same notice twice.
import type { ReminderKind } from './enterprise';
import { formatMoney, type Money } from './money';
import { formatNoticeDate, type RenderedNotice } from './notices';

export function invoiceReminderKey(invoiceId: string, kind: ReminderKind): string {
  if (invoiceId === '' || invoiceId.includes(':')) throw new RangeError(`invalid invoice id '${invoiceId}'`);
  return `notice:invoice_${kind}:${invoiceId}`;
}

export function pastDueAlertKey(invoiceId: string): string {
  if (invoiceId === '' || invoiceId.includes(':')) throw new RangeError(`invalid invoice id '${invoiceId}'`);
  return `alert:invoice_past_due:${invoiceId}`;
}

export interface ReminderContext {
  readonly customerName: string;
  readonly invoiceNumber: string;
  readonly total: Money;
  /** What is still owed when the reminder is decided (after any partial payments). */
  readonly amountDue: Money;
  readonly dueAt: string;
}

const REMINDER_SUBJECT: Readonly<Record<ReminderKind, (c: ReminderContext) => string>> = {
  due_soon: (c) => `Invoice ${c.invoiceNumber}: ${formatMoney(c.amountDue)} due on ${formatNoticeDate(c.dueAt)}`,
  due_today: (c) => `Invoice ${c.invoiceNumber}: ${formatMoney(c.amountDue)} is due today`,
  overdue: (c) => `Overdue: invoice ${c.invoiceNumber}, ${formatMoney(c.amountDue)} was due on ${formatNoticeDate(c.dueAt)}`,
  final_notice: (c) => `Final notice: invoice ${c.invoiceNumber}, ${formatMoney(c.amountDue)} overdue since ${formatNoticeDate(c.dueAt)}`,
};

const REMINDER_SENTENCE: Readonly<Record<ReminderKind, string>> = {
  due_soon: 'This is a friendly reminder that the payment is due in 7 days.',
  due_today: 'The payment is due today.',
  overdue: 'The payment is now 7 days overdue. Please arrange payment as soon as possible.',
  final_notice: 'The payment is now 14 days overdue. Please pay now or contact us to avoid interruption of the training.',
};

export function renderInvoiceReminder(kind: ReminderKind, c: ReminderContext): RenderedNotice {
  const paidPart = c.amountDue.amount !== c.total.amount;
  return {
    subject: REMINDER_SUBJECT[kind](c),
    text: [
      `Hi ${c.customerName},`,
      '',
      REMINDER_SENTENCE[kind],
      `Invoice ${c.invoiceNumber} of ${formatMoney(c.total)} is due on ${formatNoticeDate(c.dueAt)}.`,
      paidPart ? `Thank you for the payments received so far; ${formatMoney(c.amountDue)} is still open.` : `Amount due: ${formatMoney(c.amountDue)}.`,
      'Pay by bank transfer quoting the invoice number, or by card.',
      '',
      `Invoice ${c.invoiceNumber}`,
    ].join('\n'),
  };
}

export function renderPastDueAlert(c: ReminderContext & { readonly customerId: string; readonly invoiceId: string }): RenderedNotice {
  return {
    subject: `[billing] Invoice ${c.invoiceNumber} is past due: ${formatMoney(c.amountDue)} from ${c.customerName}`,
    text: [
      `Invoice ${c.invoiceNumber} (${c.invoiceId}) for customer ${c.customerName} (${c.customerId}) was due on ${formatNoticeDate(c.dueAt)}.`,
      `Total ${formatMoney(c.total)}; still owed ${formatMoney(c.amountDue)}.`,
      'The contract is now past_due. Reminders continue at +7 and +14 days.',
    ].join('\n'),
  };
}
