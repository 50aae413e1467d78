// finance.js — the Finance Bureau's console: the redemption queue
// (reimburse, reject), reconciliation downloads, the treasury file match,
// the ledger check and any voucher's history.

import { h, card, field, button, later, dialog } from '../dom.js';
import { t } from '../i18n.js';
import { post, all, seg } from '../api.js';
import { money, today, formatFen, sumFen, count } from '../format.js';
import { voucherTable, historyButton, reportsSection, treasuryUpload, verifySection, voucherLookup } from './common.js';

async function queue(ctx) {
  const q = await all('/v1/vouchers', { status: 'redemption_requested' });
  const reimburse = (v) => button(t('finance.reimburse'), {
    small: true, kind: 'primary',
    onClick: async () => {
      const done = await dialog({
        title: t('finance.reimburseTitle', { id: v.id }),
        intro: t('finance.reimburseIntro', { agency: v.agency_id, amount: money(v.amount) }),
        submit: t('finance.reimburse'),
        fields: [
          field({ name: 'amount', label: t('finance.amount'), required: true, value: v.amount, pattern: '[0-9]{1,12}(\\.[0-9]{1,2})?', hint: t('finance.amountHint') }),
          field({ name: 'payment_ref', label: t('voucher.paymentRef'), required: true, pattern: '[A-Za-z0-9][A-Za-z0-9_.\\/\\-]{0,63}', hint: t('finance.refHint') }),
          field({ name: 'paid_on', label: t('voucher.paidOn'), type: 'date', required: true, value: today() }),
        ],
        onSubmit: (vals) => post(`/v1/vouchers/${seg(v.id)}/reimburse`, {
          payment_ref: vals.payment_ref.trim(), amount: vals.amount.trim(), paid_on: vals.paid_on,
        }),
      });
      if (done) ctx.done(t('finance.reimbursed', { id: v.id, amount: money(done.paid_amount || v.amount) }));
    },
  });
  const reject = (v) => button(t('finance.reject'), {
    small: true, kind: 'danger',
    onClick: async () => {
      const done = await dialog({
        title: t('finance.rejectTitle', { id: v.id }), intro: t('finance.rejectIntro'), submit: t('finance.reject'), kind: 'danger',
        fields: [field({ name: 'reason', label: t('common.reason'), required: true, type: 'textarea' })],
        onSubmit: (vals) => post(`/v1/vouchers/${seg(v.id)}/reject`, { reason: vals.reason.trim() }),
      });
      if (done) ctx.done(t('finance.rejected', { id: v.id }));
    },
  });
  const total = sumFen(...q.items.map((v) => v.amount));
  return card(t('finance.queue'),
    h('p', { class: 'intro' }, t('finance.queueIntro', { n: count(q.items.length), total: formatFen(total) })),
    voucherTable(q.items, { showAgency: true, empty: t('finance.queueEmpty'), actions: (v) => [reimburse(v), reject(v), historyButton(ctx, v)] }));
}

export const sections = [
  { id: 'queue', label: 'nav.queue', render: (ctx) => later(queue(ctx), (n) => n) },
  { id: 'reports', label: 'nav.reports', render: reportsSection },
  { id: 'treasury', label: 'nav.treasury', render: treasuryUpload },
  { id: 'ledger', label: 'nav.ledger', render: verifySection },
  { id: 'voucher', label: 'nav.voucher', render: voucherLookup },
];
