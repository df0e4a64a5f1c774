// Invoices from PostgreSQL: JSON with lines, payments and collection state, or the PDF.
import { Router, type Response } from 'express';
import type { DatabasePool } from 'slonik';
import { findInvoiceDetail, type InvoiceDetail } from '../../db/enterprise';
import { requireScope } from '../auth';
import { ApiError } from '../errors';
import { invoicePdfFilename, renderInvoicePdf } from '../invoice-pdf';

const INVOICE_ID = /^in_[A-Za-z0-9_]{1,100}$/;

export function invoiceRoutes(pool: DatabasePool): Router {
  const router = Router();

  const load = async (id: string): Promise<InvoiceDetail> => {
    const detail = INVOICE_ID.test(id) ? await findInvoiceDetail(pool, id) : null;
    if (!detail) throw new ApiError(404, 'not_found', `invoice ${id} does not exist`);
    return detail;
  };

  // Before /:id, which would otherwise take "in_..._0000.pdf" as the id.
  router.get('/v1/invoices/:id.pdf', requireScope('invoices:read'), async (req, res: Response) => {
    const detail = await load(String(req.params.id));
    const pdf = await renderInvoicePdf(detail);
    res.status(200);
    res.setHeader('Content-Type', 'application/pdf');
    res.setHeader('Content-Disposition', `inline; filename="${invoicePdfFilename(detail)}"`);
    res.setHeader('Content-Length', String(pdf.length));
    res.end(pdf);
  });

  router.get('/v1/invoices/:id', requireScope('invoices:read'), async (req, res) => {
    res.json(await load(String(req.params.id)));
  });

  return router;
}
