// common.js — pieces several roles share: cap bars, voucher tables, the
// voucher timeline, reconciliation reports and the ledger check.

import { h, clear, card, field, button, table, notice, errorNotice, later, busy, dialog, form } from '../dom.js';
import { t, statusText, actionText, exceptionText, matchText } from '../i18n.js';
import { get, post, qs, seg, report, saveFile } from '../api.js';
import { money, parseFen, formatFen, ratio, date, dateTime, count, sumFen } from '../format.js';
import { groupedBars } from '../charts.js';

/**
 * dataPeriod is the newest of periods in which any of the agencies has
 * used its cap, else the newest period: what a person wants to see first.
 */
export function dataPeriod(periods, agencies) {
  const used = new Set();
  for (const a of agencies) {
    for (const c of a.caps || []) {
      if ((parseFen(c.used) ?? 0n) > 0n) used.add(c.period);
    }
  }
  return periods.find((p) => used.has(p)) || periods[0];
}

/** policyPeriods lists the cap periods a person may pick, newest first. */
export function policyPeriods(policy, extra = []) {
  const set = new Set(extra.filter(Boolean));
  if (policy && policy.cap_scope === 'program') {
    set.add('program');
  } else if (policy && policy.window_from) {
    const from = Number(policy.window_from.slice(0, 4));
    const to = Math.min(Number((policy.window_to || policy.window_from).slice(0, 4)), new Date().getFullYear());
    for (let y = from; y <= to; y += 1) set.add(String(y));
  }
  if (set.size === 0) set.add(String(new Date().getFullYear()));
  return [...set].sort().reverse();
}

export function periodText(p) {
  return p === 'program' ? t('period.program') : p === 'all' ? t('period.all') : t('period.year', { year: p });
}

/** capMeter is one period's cap use as a labelled progress bar. */
export function capMeter(cap) {
  const used = parseFen(cap.used) ?? 0n;
  const limit = parseFen(cap.limit) ?? 0n;
  const r = ratio(used, limit);
  const fill = h('div', { class: `fill${used > limit ? ' over' : r >= 0.8 ? ' warn' : ''}` });
  fill.style.width = `${(r * 100).toFixed(1)}%`;
  const label = t('cap.bar', { period: periodText(cap.period), used: money(cap.used), limit: money(cap.limit) });
  return h('div', { class: 'cap' },
    h('div', { class: 'cap-head' }, h('strong', {}, periodText(cap.period)),
      h('span', {}, t('cap.usedOf', { used: money(cap.used), limit: money(cap.limit) }))),
    h('div', {
      class: 'meter', role: 'progressbar', 'aria-label': label,
      'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': Math.round(r * 100),
    }, fill),
    h('div', { class: 'cap-foot' },
      t('cap.remaining', { remaining: money(cap.remaining) }), ' · ', t('cap.vouchers', { n: count(cap.live_count) })));
}

export function statusBadge(status) {
  return h('span', { class: `badge st-${status}` }, statusText(status));
}

/** voucherTable lists vouchers; actions(v) gives the buttons of a row. */
export function voucherTable(vouchers, { actions, showAgency, caption, empty } = {}) {
  const cols = [
    { title: t('voucher.id'), render: (v) => h('code', {}, v.id) },
  ];
  if (showAgency) cols.push({ title: t('voucher.agency'), render: (v) => h('code', {}, v.agency_id) });
  cols.push(
    { title: t('voucher.enterprise'), render: (v) => h('code', {}, v.enterprise_id) },
    { title: t('voucher.certificate'), render: (v) => v.certificate_no },
    { title: t('voucher.period'), render: (v) => periodText(v.period) },
    { title: t('voucher.amount'), class: 'num', render: (v) => money(v.amount) },
    { title: t('voucher.status'), render: (v) => statusBadge(v.status) },
    { title: t('voucher.issued'), render: (v) => date(v.issued_at) },
  );
  if (actions) cols.push({ title: t('common.actions'), class: 'actions-cell', render: (v) => h('div', { class: 'row-actions' }, actions(v)) });
  return table({ caption, columns: cols, rows: vouchers, empty: empty || t('voucher.none') });
}

/** timeline shows a voucher's history, oldest first. */
export function timeline(items) {
  if (!items.length) return h('p', { class: 'empty' }, t('history.none'));
  return h('ol', { class: 'timeline' }, items.map((it) => h('li', { class: `tl-${it.status}` },
    h('span', { class: 'dot', 'aria-hidden': 'true' }),
    h('div', { class: 'when' }, dateTime(it.at)),
    h('div', { class: 'what' }, h('strong', {}, actionText(it.action)), ' → ', statusBadge(it.status)),
    h('div', { class: 'who' }, t('history.by', { actor: it.actor }), ' · ', h('code', { title: t('history.tx') }, it.tx_id.slice(0, 16))))));
}

/** voucherDetails lists a voucher's facts. */
export function voucherDetails(v) {
  const rows = [
    [t('voucher.id'), h('code', {}, v.id)],
    [t('voucher.status'), statusBadge(v.status)],
    [t('voucher.agency'), h('code', {}, v.agency_id)],
    [t('voucher.enterprise'), h('code', {}, v.enterprise_id)],
    [t('voucher.certificate'), v.certificate_no],
    [t('voucher.period'), periodText(v.period)],
    [t('voucher.amount'), money(v.amount)],
    [t('voucher.issuedAt'), dateTime(v.issued_at)],
    v.redemption_requested_at ? [t('voucher.redeemedAt'), dateTime(v.redemption_requested_at)] : null,
    v.payment_ref ? [t('voucher.paymentRef'), v.payment_ref] : null,
    v.paid_amount ? [t('voucher.paidAmount'), money(v.paid_amount)] : null,
    v.paid_on ? [t('voucher.paidOn'), date(v.paid_on)] : null,
    v.reason ? [t('voucher.reason'), v.reason] : null,
  ].filter(Boolean);
  return h('dl', { class: 'facts' }, rows.map(([k, val]) => [h('dt', {}, k), h('dd', {}, val)]));
}

/**
 * voucherLookup is the section "look up a voucher": its facts and its
 * history as a timeline; scitech may revoke an issued one.
 */
export function voucherLookup(ctx) {
  const out = h('div', { class: 'lookup-out' });
  const show = async (id) => {
    const [v, hist] = await Promise.all([get(`/v1/vouchers/${seg(id)}`), get(`/v1/vouchers/${seg(id)}/history`)]);
    const parts = [card(t('voucher.detailsOf', { id: v.id }), voucherDetails(v)), card(t('history.title'), timeline(hist))];
    if (ctx.session.role === 'scitech' && (v.status === 'issued' || v.status === 'redemption_requested')) {
      parts[0].appendChild(h('div', { class: 'actions' }, button(t('voucher.revoke'), {
        kind: 'danger',
        onClick: async () => {
          const done = await dialog({
            title: t('voucher.revokeTitle', { id: v.id }), intro: t('voucher.revokeIntro'), submit: t('voucher.revoke'), kind: 'danger',
            fields: [field({ name: 'reason', label: t('common.reason'), required: true, type: 'textarea' })],
            onSubmit: (vals) => post(`/v1/vouchers/${seg(v.id)}/revoke`, { reason: vals.reason.trim() }),
          });
          if (done) ctx.done(t('voucher.revoked', { id: v.id }));
        },
      })));
    }
    clear(out, parts);
  };
  const f = form({
    cls: 'inline',
    fields: [field({ name: 'id', label: t('voucher.id'), required: true, pattern: '[A-Za-z0-9-]{1,64}', value: ctx.params.id || '' })],
    submit: t('voucher.lookup'),
    onSubmit: async (vals) => {
      clear(out);
      await show(vals.id.trim());
      return null;
    },
  });
  if (ctx.params.id) show(ctx.params.id).catch((err) => clear(out, errorNotice(err)));
  return [card(t('voucher.lookupTitle'), h('p', { class: 'intro' }, t('voucher.lookupIntro')), f), out];
}

/** historyButton opens a voucher's timeline in the lookup section. */
export function historyButton(ctx, v) {
  return button(t('history.show'), { small: true, kind: 'link', onClick: () => ctx.go('voucher', { id: v.id }) });
}

/** verifySection runs GET /v1/ledger/verify and shows its verdict. */
export function verifySection() {
  const out = h('div', { 'aria-live': 'polite' });
  const btn = button(t('ledger.verify'), { kind: 'primary' });
  btn.addEventListener('click', () => busy(btn, async () => {
    clear(out, h('p', { class: 'loading', role: 'status' }, t('ledger.running')));
    try {
      const r = await get('/v1/ledger/verify');
      clear(out, h('div', { class: `verdict ${r.ok ? 'ok' : 'bad'}`, role: 'status' },
        h('p', { class: 'big' }, r.ok ? t('ledger.ok') : t('ledger.bad', { block: r.first_bad_block ?? '?' })),
        h('dl', { class: 'facts' },
          h('dt', {}, t('ledger.height')), h('dd', {}, count(r.height)),
          h('dt', {}, t('ledger.checked')), h('dd', {}, count(r.checked_blocks)),
          h('dt', {}, t('ledger.head')), h('dd', {}, h('code', { class: 'hash' }, r.head_hash || '')),
          r.detail ? [h('dt', {}, t('ledger.detail')), h('dd', {}, r.detail)] : null)));
    } catch (err) {
      clear(out, errorNotice(err));
    }
  }));
  return card(t('ledger.title'), h('p', { class: 'intro' }, t('ledger.intro')), h('div', { class: 'actions' }, btn), out);
}

/**
 * downloadLinks are the reconciliation files of a period: real links (so
 * "save link as" works), whose click fetches the file through the report
 * queue, so a busy gateway is retried and an error is shown in words.
 */
export function downloadLinks(period) {
  const status = h('div', { class: 'form-status', 'aria-live': 'polite' });
  const link = (format, label) => {
    const href = `/v1/reports/reconciliation${qs({ period, format })}`;
    const a = h('a', { class: 'btn secondary', href, download: '', 'data-format': format }, label);
    a.addEventListener('click', async (ev) => {
      ev.preventDefault();
      if (a.getAttribute('aria-busy')) return;
      a.setAttribute('aria-busy', 'true');
      clear(status, h('span', { class: 'loading' }, t('report.preparing')));
      try {
        saveFile(await report('GET', href, { file: true }));
        clear(status);
      } catch (err) {
        clear(status, errorNotice(err));
      } finally {
        a.removeAttribute('aria-busy');
      }
    });
    return a;
  };
  return h('div', { class: 'downloads-box' },
    h('div', { class: 'downloads' }, link('csv', t('report.downloadCsv')), link('xlsx', t('report.downloadXlsx'))), status);
}

/** issuedFen is every voucher issued in a report row, whatever became of it. */
function issuedFen(r) {
  return sumFen(r.issued_amount, r.redemption_requested_amount, r.reimbursed_amount, r.rejected_amount, r.revoked_amount);
}

/**
 * trendChart fetches one report per period (oldest first) and draws
 * issued vs reimbursed. Reports run one after another: the gateway
 * computes few at once.
 */
export function trendChart(periods) {
  const load = async () => {
    const ordered = [...periods].filter((p) => p !== 'all').reverse();
    const issued = [];
    const paid = [];
    for (const p of ordered) {
      // eslint-disable-next-line no-await-in-loop
      const rep = await report('GET', `/v1/reports/reconciliation${qs({ period: p, format: 'json' })}`);
      issued.push(issuedFen(rep.totals));
      paid.push(parseFen(rep.totals.reimbursed_amount) ?? 0n);
    }
    return groupedBars({
      title: t('chart.trend'),
      categories: ordered.map(periodText),
      series: [{ label: t('chart.issued'), cls: 's-issued', values: issued },
        { label: t('chart.reimbursed'), cls: 's-paid', values: paid }],
    });
  };
  return card(t('chart.trend'), later(load(), (n) => n));
}

/**
 * reportView fetches the JSON reconciliation of a period and shows its
 * totals, its agencies and its exceptions.
 */
export function reportView(period) {
  return later(report('GET', `/v1/reports/reconciliation${qs({ period, format: 'json' })}`), (rep) => {
    const tot = rep.totals;
    const exc = rep.exceptions || [];
    const excTotal = Object.values(rep.exception_counts || {}).reduce((a, b) => a + b, 0);
    const shown = exc.slice(0, 200);
    return [
      h('div', { class: 'stats' },
        stat(t('report.issued'), formatFen(issuedFen(tot)), t('report.count', { n: count(tot.issued_count + tot.redemption_requested_count + tot.reimbursed_count + tot.rejected_count + tot.revoked_count) })),
        stat(t('report.outstanding'), money(tot.outstanding_amount), t('report.count', { n: count(tot.outstanding_count) })),
        stat(t('report.reimbursed'), money(tot.reimbursed_amount), t('report.count', { n: count(tot.reimbursed_count) })),
        stat(t('report.exceptions'), count(excTotal), '', excTotal > 0 ? 'warn' : 'ok')),
      h('p', { class: 'meta' }, t('report.meta', { height: count(rep.height), digest: (rep.digest || '').slice(0, 16), at: dateTime(rep.generated_at) })),
      table({
        caption: t('report.agencies'),
        columns: [
          { title: t('agency.name'), render: (r) => [r.name, h('br'), h('code', { class: 'sub' }, r.agency_id)] },
          { title: t('report.issued'), class: 'num', render: (r) => formatFen(issuedFen(r)) },
          { title: t('report.outstanding'), class: 'num', render: (r) => money(r.outstanding_amount) },
          { title: t('report.reimbursed'), class: 'num', render: (r) => money(r.reimbursed_amount) },
          { title: t('report.capUsed'), class: 'num', render: (r) => `${money(r.cap_used)} / ${money(r.cap_limit)}` },
          { title: t('report.exceptions'), class: 'num', render: (r) => (r.exceptions > 0 ? h('span', { class: 'badge warn' }, count(r.exceptions)) : '0') },
        ],
        rows: rep.agencies || [],
        rowClass: (r) => (r.exceptions > 0 ? 'flag' : null),
        empty: t('report.noAgencies'),
      }),
      h('h3', {}, t('report.exceptionList')),
      table({
        columns: [
          { title: t('report.excKind'), render: (e) => exceptionText(e.code) },
          { title: t('voucher.agency'), render: (e) => h('code', {}, e.agency_id) },
          { title: t('voucher.period'), render: (e) => (e.period ? periodText(e.period) : '') },
          { title: t('report.excVouchers'), render: (e) => (e.voucher_ids || []).slice(0, 5).join(', ') + (e.voucher_count > 5 ? ` … (${count(e.voucher_count)})` : '') },
          { title: t('report.excDetail'), render: (e) => e.detail },
        ],
        rows: shown,
        empty: t('report.noExceptions'),
      }),
      exc.length > shown.length ? h('p', { class: 'meta' }, t('report.moreExceptions', { n: count(exc.length - shown.length) })) : null,
    ];
  });
}

function stat(label, value, sub, cls) {
  return h('div', { class: `stat ${cls || ''}` }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value), sub ? h('div', { class: 'sub' }, sub) : null);
}

/**
 * reportsSection: pick a period, download CSV/XLSX, see the report with
 * its exceptions, and the issued-vs-reimbursed chart.
 */
export function reportsSection(ctx) {
  const body = h('div', {});
  const periods = [...ctx.periods, 'all'];
  const sel = field({
    name: 'period', label: t('report.period'), type: 'select', value: ctx.params.period || 'all',
    options: periods.map((p) => [p, periodText(p)]),
  });
  const select = sel.querySelector('select');
  const render = () => {
    const p = select.value;
    clear(body, h('div', { class: 'toolbar' }, downloadLinks(p)), reportView(p));
  };
  select.addEventListener('change', render);
  render();
  return [card(t('report.title'), h('p', { class: 'intro' }, t('report.intro')), h('div', { class: 'toolbar' }, sel), body),
    trendChart(ctx.periods)];
}

/** treasuryUpload matches the treasury's payment file against the ledger. */
export function treasuryUpload(ctx) {
  const out = h('div', { 'aria-live': 'polite' });
  const f = form({
    fields: [
      field({ name: 'period', label: t('report.period'), type: 'select', value: 'all', options: [...ctx.periods, 'all'].map((p) => [p, periodText(p)]) }),
      field({ name: 'file', label: t('treasury.file'), type: 'file', required: true, hint: t('treasury.fileHint'), attrs: { accept: '.csv,text/csv' } }),
    ],
    submit: t('treasury.match'),
    onSubmit: async (vals) => {
      clear(out);
      const m = await report('POST', `/v1/reports/reconciliation/payments${qs({ period: vals.period, format: 'json' })}`,
        { body: vals.file, type: 'text/csv' });
      clear(out, matchView(m));
      return null;
    },
  });
  return card(t('treasury.title'), h('p', { class: 'intro' }, t('treasury.intro')), f, out);
}

function matchView(m) {
  const sm = m.summary || {};
  const mismatched = (sm.amount_mismatch || 0) + (sm.agency_mismatch || 0) + (sm.voucher_mismatch || 0) + (sm.ref_reused_on_ledger || 0);
  const ok = sm.matched === sm.file_rows && sm.ledger_only === 0 && sm.file_only === 0 && (sm.bad_rows || 0) === 0 && mismatched === 0;
  return [
    notice(ok ? 'ok' : 'warn', ok ? t('treasury.allMatched', { n: count(sm.matched) }) : t('treasury.someDiffer')),
    h('div', { class: 'stats' },
      stat(t('treasury.matched'), count(sm.matched), money(sm.matched_amount), 'ok'),
      stat(t('treasury.ledgerOnly'), count(sm.ledger_only), money(sm.ledger_only_amount), sm.ledger_only ? 'warn' : ''),
      stat(t('treasury.fileOnly'), count(sm.file_only), money(sm.file_only_amount), sm.file_only ? 'warn' : ''),
      stat(t('treasury.mismatch'), count(mismatched), '', mismatched ? 'warn' : ''),
      stat(t('treasury.badRows'), count(sm.bad_rows || 0), '', sm.bad_rows ? 'warn' : '')),
    (m.bad_rows || []).length ? table({
      caption: t('treasury.badRows'),
      columns: [{ title: t('common.line'), render: (r) => String(r.line) }, { title: t('report.excDetail'), render: (r) => r.detail || r.reason || '' }],
      rows: m.bad_rows,
    }) : null,
    table({
      caption: t('treasury.rows'),
      columns: [
        { title: t('treasury.category'), render: (r) => h('span', { class: `badge m-${r.category}` }, matchText(r.category, r.mismatches)) },
        { title: t('voucher.paymentRef'), render: (r) => r.payment_ref },
        { title: t('voucher.id'), render: (r) => (r.voucher_id ? h('code', {}, r.voucher_id) : '') },
        { title: t('treasury.ledgerAmount'), class: 'num', render: (r) => (r.ledger_amount ? money(r.ledger_amount) : '') },
        { title: t('treasury.fileAmount'), class: 'num', render: (r) => (r.file_amount ? money(r.file_amount) : '') },
        { title: t('common.line'), render: (r) => (r.line ? String(r.line) : '') },
      ],
      rows: (m.rows || []).slice(0, 500),
      empty: t('treasury.noRows'),
    }),
  ];
}

/** loadPolicy gets the policy in force (null when none yet). */
export async function loadPolicy() {
  try {
    return await get('/v1/policy');
  } catch (err) {
    if (err.code === 'NOT_FOUND') return null;
    throw err;
  }
}
