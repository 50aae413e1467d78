// agency.js — a service agency's console: its cap per period, its
// vouchers (redeem), recording a service (the evidence is hashed here and
// never uploaded) and claiming.

import { h, clear, card, field, form, button, notice, later, dialog } from '../dom.js';
import { t, kindText } from '../i18n.js';
import { get, post, all, seg } from '../api.js';
import { money, today } from '../format.js';
import { capMeter, voucherTable, historyButton, voucherLookup } from './common.js';

const USCC_PATTERN = '[0-9A-HJ-NPQRTUWXY]{18}';
const CERT_PATTERN = 'GR[0-9]{12}';
// maxEvidenceBytes bounds the file hashed in the browser: crypto.subtle
// digests a whole buffer at once.
const maxEvidenceBytes = 512 * 1024 * 1024;

async function overview(ctx) {
  const id = ctx.session.agency_id;
  const [agency, vouchers] = await Promise.all([get(`/v1/agencies/${seg(id)}`), all('/v1/vouchers')]);
  let caps = [...(agency.caps || [])].sort((a, b) => (a.period < b.period ? 1 : -1));
  if (caps.length === 0) caps = [await get(`/v1/agencies/${seg(id)}/cap?period=${seg(ctx.periods[0])}`)];
  const redeem = (v) => button(t('voucher.redeem'), {
    small: true, kind: 'primary',
    onClick: async () => {
      const done = await dialog({
        title: t('voucher.redeemTitle', { id: v.id }),
        intro: t('voucher.redeemIntro', { amount: money(v.amount) }),
        submit: t('voucher.redeem'), fields: [],
        onSubmit: () => post(`/v1/vouchers/${seg(v.id)}/redeem`, {}),
      });
      if (done) ctx.done(t('voucher.redeemed', { id: v.id }));
    },
  });
  return [
    card(t('agency.mine'),
      h('p', { class: 'agency-name' }, h('strong', {}, agency.name), ' ', h('code', {}, agency.id), ' · ', kindText(agency.kind)),
      agency.status === 'suspended' ? notice('warn', t('agency.suspendedNotice', { reason: agency.reason || '—' })) : null,
      h('div', { class: 'caps' }, caps.map(capMeter)),
      h('div', { class: 'actions' },
        button(t('nav.claim'), { kind: 'primary', onClick: () => ctx.go('claim') }),
        button(t('nav.service'), { onClick: () => ctx.go('service') }))),
    card(t('voucher.mine'),
      voucherTable(vouchers.items, {
        actions: (v) => [v.status === 'issued' ? redeem(v) : null, historyButton(ctx, v)],
      }),
      vouchers.more ? h('p', { class: 'meta' }, t('common.truncated')) : null),
  ];
}

async function sha256Hex(file) {
  const digest = await crypto.subtle.digest('SHA-256', await file.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

function serviceForm() {
  const canHash = Boolean(window.isSecureContext && window.crypto && crypto.subtle);
  const digestOut = h('output', { class: 'digest', id: 'evidence-digest', 'aria-live': 'polite' });
  const hashField = field({
    id: 'evidence-sha256', name: 'evidence_sha256', label: t('service.sha256'), required: true,
    pattern: '[0-9a-f]{64}', hint: canHash ? t('service.sha256Auto') : t('service.sha256Manual'),
    attrs: { readonly: canHash, spellcheck: 'false' },
  });
  const hashInput = hashField.querySelector('input');
  const fileField = canHash ? field({
    id: 'evidence-file', name: 'evidence_file', label: t('service.evidence'), type: 'file', required: true,
    hint: t('service.evidenceHint'),
  }) : null;
  if (fileField) {
    const input = fileField.querySelector('input');
    input.addEventListener('change', async () => {
      hashInput.value = '';
      clear(digestOut);
      const file = input.files[0];
      if (!file) return;
      if (file.size > maxEvidenceBytes) {
        clear(digestOut, t('service.tooBig'));
        input.value = '';
        return;
      }
      clear(digestOut, t('service.hashing'));
      try {
        hashInput.value = await sha256Hex(file);
        clear(digestOut, t('service.hashed', { name: file.name }));
      } catch {
        clear(digestOut, t('service.hashFailed'));
      }
    });
  }
  const f = form({
    fields: [
      field({ name: 'enterprise_id', label: t('common.enterpriseId'), required: true, pattern: USCC_PATTERN, hint: t('hint.uscc'), attrs: { maxlength: 18 } }),
      field({ name: 'contract_ref', label: t('service.contractRef'), required: true, attrs: { maxlength: 64 } }),
      field({ name: 'started_on', label: t('service.startedOn'), type: 'date', required: true, value: today() }),
      fileField, hashField, digestOut,
    ],
    submit: t('service.submit'),
    onSubmit: async (vals) => {
      if (!hashInput.value) throw Object.assign(new Error('no digest'), { code: 'EVIDENCE_NOT_HASHED' });
      const rec = await post('/v1/service-records', {
        enterprise_id: vals.enterprise_id.trim(), contract_ref: vals.contract_ref.trim(),
        started_on: vals.started_on, evidence_sha256: hashInput.value.trim(),
      });
      return notice('ok', t('service.done', { id: rec.id, enterprise: rec.enterprise_id }));
    },
  });
  return card(t('service.title'), h('p', { class: 'intro' }, t('service.intro')), f);
}

function claimForm(ctx) {
  const f = form({
    fields: [
      field({ name: 'enterprise_id', label: t('common.enterpriseId'), required: true, pattern: USCC_PATTERN, hint: t('hint.uscc'), attrs: { maxlength: 18 } }),
      field({ name: 'certificate_no', label: t('common.certificateNo'), required: true, pattern: CERT_PATTERN, hint: t('hint.cert'), attrs: { maxlength: 14 } }),
    ],
    submit: t('claim.submit'),
    onSubmit: async (vals) => {
      const v = await post('/v1/claims', { enterprise_id: vals.enterprise_id.trim(), certificate_no: vals.certificate_no.trim() });
      return notice('ok', [t('claim.done', { id: v.id, amount: money(v.amount) }), ' ',
        button(t('nav.overview'), { kind: 'link', small: true, onClick: () => ctx.go('overview') })]);
    },
  });
  return card(t('claim.title'), h('p', { class: 'intro' }, t('claim.intro', { amount: money(ctx.policy?.unit_reward ?? '5000.00') })), f);
}

export const sections = [
  { id: 'overview', label: 'nav.overview', render: (ctx) => later(overview(ctx), (n) => n) },
  { id: 'claim', label: 'nav.claim', render: claimForm },
  { id: 'service', label: 'nav.service', render: serviceForm },
  { id: 'voucher', label: 'nav.voucher', render: voucherLookup },
];
