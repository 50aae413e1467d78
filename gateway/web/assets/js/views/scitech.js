// scitech.js — the Science & Technology Bureau's console: agencies
// (register, suspend, reinstate, cap use across them), certifications (one
// by one, or the year's recognition list as CSV), the policy, the
// console's users, and any voucher (revoke).

import { h, clear, card, field, form, button, table, notice, later, dialog } from '../dom.js';
import { t, kindText, roleText, importRowText, principalStatusText } from '../i18n.js';
import { get, post, put, del, all, call, seg } from '../api.js';
import { money, parseFen, date, dateTime, count } from '../format.js';
import { capBars } from '../charts.js';
import { periodText, voucherLookup, dataPeriod } from './common.js';

const USCC_PATTERN = '[0-9A-HJ-NPQRTUWXY]{18}';

/** capChart draws every agency's use of its cap in one period. */
export function capChart(ctx, agencies) {
  const box = h('div', {});
  const sel = field({ name: 'cap_period', label: t('report.period'), type: 'select', value: dataPeriod(ctx.periods, agencies), options: ctx.periods.map((p) => [p, periodText(p)]) });
  const select = sel.querySelector('select');
  const defaultLimit = parseFen(ctx.policy?.cap_per_agency) ?? 0n;
  const draw = () => {
    const p = select.value;
    const rows = agencies.slice(0, 40).map((a) => {
      const c = (a.caps || []).find((x) => x.period === p);
      return { label: a.name, used: parseFen(c?.used) ?? 0n, limit: parseFen(c?.limit) ?? defaultLimit };
    }).sort((a, b) => (a.used < b.used ? 1 : a.used > b.used ? -1 : 0));
    clear(box, rows.length ? capBars({ title: t('chart.capUsage', { period: periodText(p) }), rows, usedLabel: t('chart.used'), limitLabel: t('chart.limit') })
      : h('p', { class: 'empty' }, t('agency.none')));
  };
  select.addEventListener('change', draw);
  draw();
  return card(t('chart.capUsageTitle'), h('div', { class: 'toolbar' }, sel), box,
    agencies.length > 40 ? h('p', { class: 'meta' }, t('chart.top40')) : null);
}

// capCell is an agency's use of its cap in period p: its record, or nothing
// used yet against the policy's cap.
function capCell(a, p, policy) {
  const c = (a.caps || []).find((x) => x.period === p);
  if (c) return `${money(c.used)} / ${money(c.limit)}`;
  return policy ? `${money('0.00')} / ${money(policy.cap_per_agency)}` : '—';
}

async function agencies(ctx) {
  const list = await all('/v1/agencies');
  const action = (a) => {
    const suspend = a.status === 'active';
    return button(suspend ? t('agency.suspend') : t('agency.reinstate'), {
      small: true, kind: suspend ? 'danger' : 'primary',
      onClick: async () => {
        const done = await dialog({
          title: t(suspend ? 'agency.suspendTitle' : 'agency.reinstateTitle', { name: a.name }),
          intro: suspend ? t('agency.suspendIntro') : null,
          submit: suspend ? t('agency.suspend') : t('agency.reinstate'), kind: suspend ? 'danger' : 'primary',
          fields: [field({ name: 'reason', label: t('common.reason'), required: true, type: 'textarea' })],
          onSubmit: (vals) => post(`/v1/agencies/${seg(a.id)}/${suspend ? 'suspend' : 'reinstate'}`, { reason: vals.reason.trim() }),
        });
        if (done) ctx.done(t(suspend ? 'agency.suspended' : 'agency.reinstated', { name: a.name }));
      },
    });
  };
  const p = dataPeriod(ctx.periods, list.items);
  const register = form({
    fields: [
      field({ name: 'id', label: t('agency.id'), required: true, pattern: USCC_PATTERN, hint: t('hint.uscc'), attrs: { maxlength: 18 } }),
      field({ name: 'name', label: t('agency.name'), required: true, attrs: { maxlength: 200 } }),
      field({ name: 'kind', label: t('agency.kind'), type: 'select', value: 'service_agency',
        options: [['service_agency', kindText('service_agency')], ['incubator', kindText('incubator')]] }),
    ],
    submit: t('agency.register'),
    onSubmit: async (vals) => {
      const a = await post('/v1/agencies', { id: vals.id.trim(), name: vals.name.trim(), kind: vals.kind });
      ctx.done(t('agency.registered', { name: a.name }));
      return null;
    },
  });
  return [
    card(t('agency.list'),
      table({
        columns: [
          { title: t('agency.name'), render: (a) => [a.name, h('br'), h('code', { class: 'sub' }, a.id)] },
          { title: t('agency.kind'), render: (a) => kindText(a.kind) },
          { title: t('agency.status'), render: (a) => h('span', { class: `badge ag-${a.status}` }, t(`agency.st.${a.status}`)) },
          { title: t('agency.capIn', { period: periodText(p) }), class: 'num', render: (a) => capCell(a, p, ctx.policy) },
          { title: t('common.actions'), class: 'actions-cell', render: (a) => action(a) },
        ],
        rows: list.items,
        empty: t('agency.none'),
      })),
    capChart(ctx, list.items),
    card(t('agency.registerTitle'), register),
  ];
}

function importCard() {
  const out = h('div', { 'aria-live': 'polite' });
  const f = form({
    fields: [field({ id: 'import-file', name: 'file', label: t('import.file'), type: 'file', required: true, hint: t('import.fileHint'), attrs: { accept: '.csv,text/csv' } })],
    submit: t('import.submit'),
    onSubmit: async (vals) => {
      clear(out);
      try {
        const res = await call('POST', '/v1/certifications/import', { body: vals.file, type: 'text/csv; charset=utf-8' });
        clear(out, importResultView(res));
        return notice(res.failed ? 'warn' : 'ok', t(res.failed ? 'import.partly' : 'import.done',
          { recorded: count(res.recorded), already: count(res.already_recorded), failed: count(res.failed) }));
      } catch (err) {
        const rows = err.problem && err.problem.errors;
        if (!rows) throw err;
        clear(out, table({
          caption: t('import.errorsCaption'),
          columns: [
            { title: t('common.line'), render: (r) => String(r.line) },
            { title: t('common.certificateNo'), render: (r) => r.certificate_no || '' },
            { title: t('import.problem'), render: (r) => importRowText(r) },
          ],
          rows,
        }));
        return notice('error', t('import.refused', { n: count(rows.length) }));
      }
    },
  });
  return card(t('import.title'), h('p', { class: 'intro' }, t('import.intro')),
    h('pre', { class: 'sample', 'aria-label': t('import.sample') }, '统一社会信用代码,企业名称,证书编号,发证日期,认定类型\n91650104MA78XXXXXX,乌鲁木齐某某科技有限公司,GR202465000123,2024-11-20,首次认定'),
    f, out);
}

function importResultView(res) {
  return table({
    caption: t('import.resultsCaption'),
    columns: [
      { title: t('common.line'), render: (r) => String(r.line) },
      { title: t('common.certificateNo'), render: (r) => r.certificate_no },
      { title: t('common.enterpriseId'), render: (r) => h('code', {}, r.enterprise_id) },
      { title: t('import.status'), render: (r) => h('span', { class: `badge im-${r.status}` }, t(`import.st.${r.status}`)) },
    ],
    rows: res.results,
  });
}

function certifications() {
  const single = form({
    fields: [
      field({ name: 'enterprise_id', label: t('common.enterpriseId'), required: true, pattern: USCC_PATTERN, hint: t('hint.uscc'), attrs: { maxlength: 18 } }),
      field({ name: 'enterprise_name', label: t('cert.enterpriseName'), required: true, attrs: { maxlength: 200 } }),
      field({ name: 'certificate_no', label: t('common.certificateNo'), required: true, pattern: 'GR[0-9]{12}', hint: t('hint.cert'), attrs: { maxlength: 14 } }),
      field({ name: 'issued_on', label: t('cert.issuedOn'), type: 'date', required: true }),
      field({ name: 'kind', label: t('cert.kind'), type: 'select', value: 'first', options: [['first', t('cert.first')], ['renewal', t('cert.renewal')]] }),
    ],
    submit: t('cert.submit'),
    onSubmit: async (vals) => {
      const c = await post('/v1/certifications', {
        enterprise_id: vals.enterprise_id.trim(), enterprise_name: vals.enterprise_name.trim(),
        certificate_no: vals.certificate_no.trim(), issued_on: vals.issued_on, kind: vals.kind,
      });
      return notice('ok', t('cert.done', { no: c.certificate_no, name: c.enterprise_name }));
    },
  });
  return [importCard(), card(t('cert.title'), single)];
}

async function policy(ctx) {
  const p = ctx.policy;
  const facts = p ? h('dl', { class: 'facts' },
    h('dt', {}, t('policy.version')), h('dd', {}, String(p.version)),
    h('dt', {}, t('policy.unitReward')), h('dd', {}, money(p.unit_reward)),
    h('dt', {}, t('policy.cap')), h('dd', {}, money(p.cap_per_agency)),
    h('dt', {}, t('policy.scope')), h('dd', {}, t(`policy.scope.${p.cap_scope}`)),
    h('dt', {}, t('policy.window')), h('dd', {}, `${date(p.window_from)} — ${date(p.window_to)}`),
    h('dt', {}, t('policy.stale')), h('dd', {}, t('policy.days', { n: p.stale_after_days })),
    p.set_at ? [h('dt', {}, t('policy.setAt')), h('dd', {}, `${dateTime(p.set_at)} · ${p.set_by || ''}`)] : null)
    : h('p', { class: 'empty' }, t('policy.none'));
  const f = form({
    fields: [
      field({ name: 'unit_reward', label: t('policy.unitReward'), required: true, value: p?.unit_reward ?? '5000.00', pattern: '[0-9]{1,12}(\\.[0-9]{1,2})?' }),
      field({ name: 'cap_per_agency', label: t('policy.cap'), required: true, value: p?.cap_per_agency ?? '100000.00', pattern: '[0-9]{1,12}(\\.[0-9]{1,2})?' }),
      field({ name: 'cap_scope', label: t('policy.scope'), type: 'select', value: p?.cap_scope ?? 'year', options: [['year', t('policy.scope.year')], ['program', t('policy.scope.program')]] }),
      field({ name: 'window_from', label: t('policy.from'), type: 'date', required: true, value: p?.window_from ?? '2023-03-01' }),
      field({ name: 'window_to', label: t('policy.to'), type: 'date', required: true, value: p?.window_to ?? '2026-02-28' }),
      field({ name: 'stale_after_days', label: t('policy.stale'), type: 'number', value: String(p?.stale_after_days ?? 180), attrs: { min: 1, max: 3650 } }),
    ],
    submit: t('policy.submit'),
    onSubmit: async (vals) => {
      const body = {
        unit_reward: vals.unit_reward.trim(), cap_per_agency: vals.cap_per_agency.trim(), cap_scope: vals.cap_scope,
        window_from: vals.window_from, window_to: vals.window_to,
      };
      if (vals.stale_after_days) body.stale_after_days = Number(vals.stale_after_days);
      const np = await put('/v1/policy', body);
      ctx.done(t('policy.done', { version: np.version }), { policy: true });
      return null;
    },
  });
  return [card(t('policy.current'), facts), card(t('policy.setTitle'), h('p', { class: 'intro' }, t('policy.intro')), f)];
}

async function principals(ctx) {
  const list = await all('/v1/principals');
  const pwDialog = (p) => dialog({
    title: t('users.setPwTitle', { name: p.name }), submit: t('users.setPw'),
    fields: [
      field({ name: 'pw', label: t('users.newPw'), type: 'password', required: true, autocomplete: 'new-password', attrs: { minlength: 10, maxlength: 128 } }),
      field({ name: 'pw2', label: t('users.repeatPw'), type: 'password', required: true, autocomplete: 'new-password', attrs: { minlength: 10, maxlength: 128 } }),
    ],
    onSubmit: async (vals) => {
      if (vals.pw !== vals.pw2) throw Object.assign(new Error('mismatch'), { code: 'PASSWORDS_DIFFER' });
      await put(`/v1/principals/${seg(p.name)}/password`, { new_password: vals.pw });
      return true;
    },
  });
  const revoke = async (p) => {
    const done = await dialog({
      title: t('users.revokeTitle', { name: p.name }), intro: t('users.revokeIntro'), submit: t('users.revoke'), kind: 'danger', fields: [],
      onSubmit: async () => { await del(`/v1/principals/${seg(p.name)}`); return true; },
    });
    if (done) ctx.done(t('users.revokedDone', { name: p.name }));
  };
  const created = h('div', { 'aria-live': 'polite' });
  const f = form({
    fields: [
      field({ name: 'name', label: t('users.name'), required: true, pattern: '[a-z0-9][a-z0-9._\\-]{0,63}', hint: t('users.nameHint') }),
      field({ name: 'role', label: t('users.role'), type: 'select', value: 'agency', options: ['agency', 'finance', 'auditor', 'scitech'].map((r) => [r, roleText(r)]) }),
      field({ name: 'agency_id', label: t('users.agencyId'), pattern: USCC_PATTERN, hint: t('users.agencyHint'), attrs: { maxlength: 18 } }),
      field({ name: 'password', label: t('users.password'), type: 'password', autocomplete: 'new-password', hint: t('users.passwordHint'), attrs: { minlength: 10, maxlength: 128 } }),
    ],
    submit: t('users.create'),
    onSubmit: async (vals) => {
      const body = { name: vals.name.trim(), role: vals.role };
      if (vals.agency_id.trim()) body.agency_id = vals.agency_id.trim();
      if (vals.password) body.password = vals.password;
      const p = await post('/v1/principals', body);
      clear(created, notice('ok', [h('p', {}, t('users.created', { name: p.name })),
        h('p', {}, t('users.token')), h('code', { class: 'token' }, p.token)]));
      return null;
    },
  });
  return [
    card(t('users.list'), table({
      columns: [
        { title: t('users.name'), render: (p) => h('code', {}, p.name) },
        { title: t('users.role'), render: (p) => roleText(p.role) },
        { title: t('users.agencyId'), render: (p) => (p.agency_id ? h('code', {}, p.agency_id) : '') },
        { title: t('users.createdAt'), render: (p) => date(p.created_at) },
        { title: t('agency.status'), render: (p) => principalStatusText(p.revoked) },
        { title: t('common.actions'), class: 'actions-cell', render: (p) => (p.revoked ? '' : h('div', { class: 'row-actions' },
          button(t('users.setPw'), { small: true, onClick: () => pwDialog(p) }),
          p.name === ctx.session.name ? null : button(t('users.revoke'), { small: true, kind: 'danger', onClick: () => revoke(p) }))) },
      ],
      rows: list.items,
    })),
    card(t('users.createTitle'), f, created),
  ];
}

export const sections = [
  { id: 'agencies', label: 'nav.agencies', render: (ctx) => later(agencies(ctx), (n) => n) },
  { id: 'certifications', label: 'nav.certifications', render: certifications },
  { id: 'policy', label: 'nav.policy', render: (ctx) => later(policy(ctx), (n) => n) },
  { id: 'users', label: 'nav.users', render: (ctx) => later(principals(ctx), (n) => n) },
  { id: 'voucher', label: 'nav.voucher', render: voucherLookup },
];

