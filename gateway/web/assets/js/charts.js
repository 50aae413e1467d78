// charts.js — two small inline-SVG charts, drawn from exact fen values.
// Geometry uses floating point (pixels); every number a person reads is
// formatted from the exact values. Each chart has a text alternative.

import { s, h } from './dom.js';
import { formatFen, ratio } from './format.js';
import { lang } from './i18n.js';

const W = 640;

/** niceMax rounds a maximum (fen) up to 1, 2 or 5 × 10^n yuan. */
function niceMax(maxFen) {
  let yuan = Number(maxFen / 100n);
  if (yuan <= 0) return 100n * 100n;
  const p = 10 ** Math.floor(Math.log10(yuan));
  for (const m of [1, 2, 5, 10]) {
    if (yuan <= m * p) { yuan = m * p; break; }
  }
  return BigInt(Math.round(yuan)) * 100n;
}

/** shortYuan is an axis label: ¥1.5万 in Chinese, ¥15k in English. */
function shortYuan(fen) {
  const yuan = Number(fen / 100n);
  const fmt = (n) => n.toLocaleString('en-US', { maximumFractionDigits: 1 });
  if (lang() === 'zh' && yuan >= 10000) return `¥${fmt(yuan / 10000)}万`;
  if (lang() !== 'zh' && yuan >= 1000) return `¥${fmt(yuan / 1000)}k`;
  return `¥${fmt(yuan)}`;
}

/**
 * groupedBars draws one group of bars per category: series are
 * {label, cls, values: [fen…]} (one value per category).
 */
export function groupedBars({ title, categories, series }) {
  const H = 260;
  const left = 72;
  const bottom = 36;
  const top = 16;
  const plotW = W - left - 16;
  const plotH = H - top - bottom;
  const maxFen = niceMax(series.flatMap((sr) => sr.values).reduce((a, b) => (b > a ? b : a), 0n));
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title });
  svg.appendChild(s('title', { text: title }));
  for (let i = 0; i <= 4; i += 1) {
    const v = (maxFen * BigInt(i)) / 4n;
    const y = top + plotH - plotH * (i / 4);
    svg.appendChild(s('line', { x1: left, x2: W - 16, y1: y, y2: y, class: 'grid' }));
    svg.appendChild(s('text', { x: left - 8, y: y + 4, 'text-anchor': 'end', class: 'axis', text: shortYuan(v) }));
  }
  const groupW = plotW / Math.max(categories.length, 1);
  const barW = Math.min(48, (groupW * 0.7) / series.length);
  categories.forEach((cat, ci) => {
    const gx = left + groupW * ci + (groupW - barW * series.length) / 2;
    series.forEach((sr, si) => {
      const v = sr.values[ci] ?? 0n;
      const bh = plotH * ratio(v, maxFen);
      const rect = s('rect', {
        x: gx + barW * si, y: top + plotH - bh, width: barW - 4, height: Math.max(bh, 0.5), class: `bar ${sr.cls}`,
      });
      rect.appendChild(s('title', { text: `${cat} · ${sr.label}: ${formatFen(v)}` }));
      svg.appendChild(rect);
    });
    svg.appendChild(s('text', { x: left + groupW * ci + groupW / 2, y: H - 12, 'text-anchor': 'middle', class: 'axis', text: cat }));
  });
  const legend = h('ul', { class: 'legend' }, series.map((sr) => h('li', {}, h('span', { class: `swatch ${sr.cls}`, 'aria-hidden': 'true' }), sr.label)));
  return h('figure', { class: 'chart-box' }, svg, legend, altTable(title, categories, series));
}

/**
 * capBars draws one horizontal bar per agency: used against its limit,
 * red when over.
 */
export function capBars({ title, rows, usedLabel, limitLabel }) {
  const rowH = 30;
  const left = 220;
  const right = 150;
  const H = Math.max(rows.length, 1) * rowH + 12;
  const plotW = W - left - right;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title });
  svg.appendChild(s('title', { text: title }));
  rows.forEach((r, i) => {
    const y = 6 + i * rowH;
    const over = r.used > r.limit;
    const name = r.label.length > 14 ? `${r.label.slice(0, 13)}…` : r.label;
    svg.appendChild(s('text', { x: left - 8, y: y + 17, 'text-anchor': 'end', class: 'axis' }, s('title', { text: r.label }), name));
    svg.appendChild(s('rect', { x: left, y: y + 4, width: plotW, height: 18, class: 'track' }));
    const bar = s('rect', { x: left, y: y + 4, width: Math.max(plotW * ratio(r.used, r.limit), 0.5), height: 18, class: `bar ${over ? 'over' : 'used'}` });
    bar.appendChild(s('title', { text: `${r.label}: ${formatFen(r.used)} / ${formatFen(r.limit)}` }));
    svg.appendChild(bar);
    const pct = r.limit > 0n ? Number((r.used * 1000n) / r.limit) / 10 : 0;
    svg.appendChild(s('text', { x: left + plotW + 8, y: y + 17, class: 'axis' }, `${pct.toFixed(1)}% · ${shortYuan(r.used)}`));
  });
  const alt = altTable(title, rows.map((r) => r.label), [
    { label: usedLabel, values: rows.map((r) => r.used) },
    { label: limitLabel, values: rows.map((r) => r.limit) },
  ]);
  return h('figure', { class: 'chart-box' }, svg, alt);
}

/** altTable is the chart's data as a table, folded away, for screen readers and exact figures. */
function altTable(title, categories, series) {
  return h('details', { class: 'chart-data' },
    h('summary', {}, title),
    h('table', {},
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, ''), series.map((sr) => h('th', { scope: 'col' }, sr.label)))),
      h('tbody', {}, categories.map((c, i) => h('tr', {}, h('th', { scope: 'row' }, c),
        series.map((sr) => h('td', { class: 'num' }, formatFen(sr.values[i] ?? 0n))))))));
}
