// An invoice as a PDF (pdfkit, built-in Helvetica): seller and customer, number, dates and
// terms, one row per line with its tax, the totals block, payments and what is still due.
import PDFDocument from 'pdfkit';
import type { InvoiceDetail } from '../db/enterprise';
import { formatMoney, isCurrency } from '../domain/money';
import { formatNoticeDate } from '../domain/notices';

export interface InvoicePdfOptions {
  readonly seller?: { readonly name: string; readonly lines: readonly string[] };
  /** Deflate the page streams (default true); false leaves the text readable in the file. */
  readonly compress?: boolean;
}

const DEFAULT_SELLER = { name: 'durable-billing', lines: ['Billing department', 'billing@durable-billing.invalid'] };

export function invoicePdfFilename(detail: InvoiceDetail): string {
  return `invoice-${detail.number}.pdf`;
}

export async function renderInvoicePdf(detail: InvoiceDetail, options: InvoicePdfOptions = {}): Promise<Buffer> {
  const currency = detail.currency;
  if (!isCurrency(currency)) throw new Error(`invoice ${detail.id} has unsupported currency ${currency}`);
  const fmt = (amount: number) => formatMoney({ amount, currency });
  const seller = options.seller ?? DEFAULT_SELLER;

  const doc = new PDFDocument({
    size: 'A4',
    margin: 50,
    compress: options.compress ?? true,
    info: { Title: `Invoice ${detail.number}`, Author: seller.name, Subject: `Invoice ${detail.number} for ${detail.customer.name}` },
  });
  const chunks: Buffer[] = [];
  doc.on('data', (chunk: Buffer) => chunks.push(chunk));
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });

  const left = 50;
  const right = doc.page.width - 50;
  const width = right - left;

  // Header: seller on the left, invoice title and number on the right.
  doc.font('Helvetica-Bold').fontSize(16).text(seller.name, left, 50);
  doc.font('Helvetica').fontSize(9);
  for (const line of seller.lines) doc.text(line);
  doc.font('Helvetica-Bold').fontSize(22).text('INVOICE', left, 50, { width, align: 'right' });
  doc.font('Helvetica').fontSize(11).text(`Invoice ${detail.number}`, { width, align: 'right' });
  const stamp = statusStamp(detail);
  if (stamp) doc.font('Helvetica-Bold').fontSize(11).text(stamp, { width, align: 'right' });

  // Bill to, and the dates.
  const top = 130;
  doc.font('Helvetica-Bold').fontSize(10).text('Bill to', left, top);
  doc.font('Helvetica').text(detail.customer.name).text(detail.customer.email);
  if (detail.customer.country) doc.text(detail.customer.country);
  const facts: [string, string][] = [
    ['Invoice number', detail.number],
    ['Issue date', formatNoticeDate(detail.issuedAt)],
    ['Due date', formatNoticeDate(detail.dueAt)],
  ];
  if (detail.collection) facts.push(['Terms', `NET ${detail.collection.netDays}`]);
  if (detail.periodStart && detail.periodEnd) facts.push(['Period', `${formatNoticeDate(detail.periodStart)} - ${formatNoticeDate(detail.periodEnd)}`]);
  facts.forEach(([label, value], i) => {
    doc.font('Helvetica-Bold').fontSize(10).text(label, left + 250, top + i * 14, { width: 90 });
    doc.font('Helvetica').text(value, left + 330, top + i * 14, { width: width - 330, align: 'right' });
  });

  // Lines.
  const columns = { description: left, quantity: left + 245, unit: left + 290, tax: left + 370, amount: left + 430 };
  let y = Math.max(doc.y, top + facts.length * 14) + 30;
  doc.font('Helvetica-Bold').fontSize(9);
  doc.text('Description', columns.description, y, { width: 240 });
  doc.text('Qty', columns.quantity, y, { width: 40, align: 'right' });
  doc.text('Unit price', columns.unit, y, { width: 75, align: 'right' });
  doc.text('Tax', columns.tax, y, { width: 55, align: 'right' });
  doc.text('Amount', columns.amount, y, { width: right - columns.amount, align: 'right' });
  y += 14;
  doc.moveTo(left, y).lineTo(right, y).lineWidth(0.5).stroke();
  y += 6;
  doc.font('Helvetica').fontSize(9);
  for (const line of detail.lines) {
    if (y > doc.page.height - 200) {
      doc.addPage();
      y = 50;
    }
    const description = line.unit === 'seat' && !/seat/i.test(line.description) ? `${line.description} (per seat)` : line.description;
    doc.text(description, columns.description, y, { width: 240 });
    const rowBottom = doc.y;
    doc.text(String(line.quantity), columns.quantity, y, { width: 40, align: 'right' });
    doc.text(fmt(line.unitAmount), columns.unit, y, { width: 75, align: 'right' });
    doc.text(line.taxAmount || line.taxRateBasisPoints ? fmt(line.taxAmount) : '-', columns.tax, y, { width: 55, align: 'right' });
    doc.text(fmt(line.amount), columns.amount, y, { width: right - columns.amount, align: 'right' });
    y = Math.max(rowBottom, y + 12) + 4;
    if (line.periodStart && line.periodEnd) {
      doc.fillColor('#555555').text(`${formatNoticeDate(line.periodStart)} - ${formatNoticeDate(line.periodEnd)}`, columns.description, y - 2, { width: 240 });
      doc.fillColor('black');
      y = doc.y + 4;
    }
  }
  doc.moveTo(left, y).lineTo(right, y).lineWidth(0.5).stroke();
  y += 8;

  // Totals, kept together on one page.
  if (y > doc.page.height - 220) {
    doc.addPage();
    y = 50;
  }
  const totals: [string, string, boolean][] = [['Subtotal', fmt(detail.subtotal), false]];
  for (const tax of taxSummaries(detail)) totals.push([tax.label, fmt(tax.amount), false]);
  totals.push(['Total', fmt(detail.total), true]);
  if (detail.amountPaid > 0) totals.push(['Amount paid', `-${fmt(detail.amountPaid)}`, false]);
  totals.push(['Amount due', fmt(detail.amountDue), true]);
  for (const [label, value, bold] of totals) {
    doc.font(bold ? 'Helvetica-Bold' : 'Helvetica').fontSize(10);
    doc.text(label, left + 250, y, { width: 160 });
    doc.text(value, left + 410, y, { width: right - left - 410, align: 'right' });
    y += 15;
  }

  // Payments received and how to pay.
  y += 10;
  if (detail.payments.length > 0) {
    doc.font('Helvetica-Bold').fontSize(10).text('Payments received', left, y);
    doc.font('Helvetica').fontSize(9);
    for (const p of detail.payments) {
      doc.text(`${formatNoticeDate(p.receivedAt)}  ${p.method === 'card' ? 'Card' : 'Bank transfer'}  ${p.reference}  ${fmt(p.amount)}`);
    }
    y = doc.y + 10;
  }
  if (detail.amountDue > 0 && detail.status === 'open') {
    doc.font('Helvetica').fontSize(9).text(
      `Please pay ${fmt(detail.amountDue)} by ${formatNoticeDate(detail.dueAt)} by bank transfer quoting invoice number ${detail.number}, or by card.`,
      left,
      y,
      { width },
    );
  }
  if (detail.lines.some((l) => l.taxLabel?.startsWith('Reverse charge'))) {
    doc.moveDown().fontSize(8).text('Reverse charge: the customer accounts for the tax due on this supply.', left, undefined, { width });
  }
  doc.end();
  return done;
}

function statusStamp(detail: InvoiceDetail): string | null {
  if (detail.status === 'paid') return 'PAID';
  if (detail.status === 'void') return 'VOID';
  if (detail.collection?.status === 'past_due') return 'PAST DUE';
  return null;
}

/** One line per tax label: "VAT 20% (GB)" with its total. */
function taxSummaries(detail: InvoiceDetail): { label: string; amount: number }[] {
  const byLabel = new Map<string, number>();
  for (const line of detail.lines) {
    if (line.taxLabel === null) continue;
    byLabel.set(line.taxLabel, (byLabel.get(line.taxLabel) ?? 0) + line.taxAmount);
  }
  if (byLabel.size === 0 && detail.tax > 0) byLabel.set('Tax', detail.tax);
  return [...byLabel.entries()].map(([label, amount]) => ({ label, amount }));
}
