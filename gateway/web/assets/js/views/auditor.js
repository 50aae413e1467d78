// auditor.js — the auditor's console: reports with their exceptions and
// charts, the ledger check, any voucher's history. Auditors change nothing.

import { later } from '../dom.js';
import { all } from '../api.js';
import { reportsSection, verifySection, voucherLookup } from './common.js';
import { capChart } from './scitech.js';

async function reports(ctx) {
  const agencies = await all('/v1/agencies');
  return [...reportsSection(ctx), capChart(ctx, agencies.items)];
}

export const sections = [
  { id: 'reports', label: 'nav.reports', render: (ctx) => later(reports(ctx), (n) => n) },
  { id: 'ledger', label: 'nav.ledger', render: verifySection },
  { id: 'voucher', label: 'nav.voucher', render: voucherLookup },
];
