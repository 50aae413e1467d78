// dom.js — a few helpers to build the console's DOM without a framework.
// Everything user-visible goes through textContent, never innerHTML, so no
// value from the ledger can inject markup.

import { t, errorText, errorDetail } from './i18n.js';

let seq = 0;

/** uid returns a document-unique id with the given prefix. */
export function uid(prefix = 'id') {
  seq += 1;
  return `${prefix}-${seq}`;
}

function append(el, child) {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) {
    child.forEach((c) => append(el, c));
  } else if (child instanceof Node) {
    el.appendChild(child);
  } else {
    el.appendChild(document.createTextNode(String(child)));
  }
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') {
      el.className = v;
    } else if (k === 'text') {
      el.textContent = v;
    } else if (k === 'for') {
      el.htmlFor = v;
    } else if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2).toLowerCase(), v);
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (k === 'value' && 'value' in el) {
      el.value = v;
    } else if (v === true) {
      el.setAttribute(k, '');
    } else {
      el.setAttribute(k, String(v));
    }
  }
}

/** h builds an HTML element: h('p', {class: 'x'}, 'text', child, …). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVGNS = 'http://www.w3.org/2000/svg';

/** s builds an SVG element. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.setAttribute('class', v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

/** clear empties an element and appends children. */
export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * field is a labelled input: {id, label, type, name, required, value,
 * pattern, hint, autocomplete, attrs}. The label's for= names the input,
 * and a hint is tied to it with aria-describedby.
 */
export function field(o) {
  if (o.type === 'date') return dateField(o);
  const id = o.id || uid(o.name || 'f');
  const hintId = o.hint ? `${id}-hint` : null;
  const input = o.type === 'select'
    ? h('select', { id, name: o.name || id, required: o.required, 'aria-describedby': hintId, ...o.attrs },
      (o.options || []).map(([v, label]) => h('option', { value: v, selected: String(v) === String(o.value) }, label)))
    : o.type === 'textarea'
      ? h('textarea', { id, name: o.name || id, required: o.required, rows: 3, 'aria-describedby': hintId, ...o.attrs })
      : h('input', {
        id, name: o.name || id, type: o.type || 'text', required: o.required, pattern: o.pattern,
        autocomplete: o.autocomplete || 'off', 'aria-describedby': hintId, ...o.attrs,
      });
  if (o.value !== undefined && o.type !== 'select' && o.type !== 'file') input.value = o.value;
  return h('div', { class: `field${o.wide ? ' wide' : ''}` },
    h('label', { for: id }, o.label, o.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
    input,
    o.hint ? h('small', { id: hintId, class: 'hint' }, o.hint) : null);
}

/**
 * dateField is a date typed as 2024-11-20 whatever the browser's locale
 * (a native date input shows the PC's format, e.g. 11/20/2024): a text
 * input with the pattern, that turns 2024/11/20 or 2024.1.5 into the
 * standard form as one leaves it.
 */
function dateField(o) {
  const f = field({
    ...o, type: 'text', pattern: '\\d{4}-\\d{2}-\\d{2}', hint: o.hint || t('hint.date'),
    attrs: { placeholder: '2024-11-20', inputmode: 'numeric', maxlength: 10, ...o.attrs },
  });
  const input = f.querySelector('input');
  input.addEventListener('change', () => {
    const m = /^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$/.exec(input.value.trim());
    if (m) input.value = `${m[1]}-${m[2].padStart(2, '0')}-${m[3].padStart(2, '0')}`;
  });
  return f;
}

/** button builds a button; kind is primary, secondary, danger or link. */
export function button(label, o = {}) {
  return h('button', {
    type: o.type || 'button', class: `btn ${o.kind || 'secondary'}${o.small ? ' small' : ''}`,
    onclick: o.onClick, 'aria-label': o.ariaLabel, disabled: o.disabled,
  }, label);
}

/**
 * busy runs fn with the control disabled and marked busy, so a slow
 * answer cannot be submitted twice.
 */
export async function busy(ctrl, fn) {
  const wasDisabled = ctrl.disabled;
  ctrl.disabled = true;
  ctrl.setAttribute('aria-busy', 'true');
  try {
    return await fn();
  } finally {
    ctrl.disabled = wasDisabled;
    ctrl.removeAttribute('aria-busy');
  }
}

/** notice is a message box; an error takes an Error and is read aloud. */
export function notice(kind, content) {
  const role = kind === 'error' ? 'alert' : 'status';
  return h('div', { class: `notice ${kind}`, role }, content);
}

/**
 * errorNotice shows an API error as a sentence the user understands, with
 * the technical facts (code, request id) folded away for support.
 */
export function errorNotice(err) {
  const detail = errorDetail(err);
  return notice('error', [
    h('p', { class: 'msg' }, errorText(err)),
    detail ? h('details', { class: 'tech' }, h('summary', {}, t('error.technical')), h('p', {}, detail)) : null,
  ]);
}

/**
 * table renders rows: columns are {title, render(row) → node|string,
 * class}. An empty list shows the empty text instead.
 */
export function table({ caption, columns, rows, empty, rowClass }) {
  if (!rows || rows.length === 0) {
    return h('p', { class: 'empty' }, empty || t('common.none'));
  }
  return h('div', { class: 'table-wrap' },
    h('table', {},
      caption ? h('caption', {}, caption) : null,
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.class }, c.title)))),
      h('tbody', {}, rows.map((r) => h('tr', { class: rowClass ? rowClass(r) : null },
        columns.map((c) => h('td', { class: c.class }, c.render(r))))))));
}

/** section is a titled card. */
export function card(title, ...children) {
  const id = uid('card');
  return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id }, title), children);
}

/**
 * form builds a form whose submit runs onSubmit(values, form) with the
 * submit button busy; a thrown error is shown above the buttons, a
 * returned node (or string) as the result below the form.
 */
export function form({ fields, submit, onSubmit, cls }) {
  const status = h('div', { class: 'form-status', 'aria-live': 'polite' });
  const submitBtn = button(submit, { type: 'submit', kind: 'primary' });
  const el = h('form', { class: `form ${cls || ''}`, novalidate: false }, h('div', { class: 'fields' }, fields),
    h('div', { class: 'actions' }, submitBtn), status);
  el.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!el.reportValidity()) return;
    clear(status);
    const values = Object.fromEntries(new FormData(el).entries());
    try {
      const out = await busy(submitBtn, () => onSubmit(values, el));
      if (out) clear(status, typeof out === 'string' ? notice('ok', out) : out);
    } catch (err) {
      clear(status, errorNotice(err));
    }
  });
  return el;
}

/**
 * dialog opens a modal <dialog> with a form of fields; onSubmit(values)
 * resolves to close it, throws to show the error inside. It resolves to
 * onSubmit's result, or undefined when cancelled.
 */
export function dialog({ title, intro, fields, submit, kind, onSubmit }) {
  return new Promise((resolve) => {
    const titleId = uid('dlg');
    const status = h('div', { class: 'form-status', 'aria-live': 'polite' });
    const submitBtn = button(submit, { type: 'submit', kind: kind || 'primary' });
    const cancelBtn = button(t('common.cancel'), { kind: 'secondary' });
    const f = h('form', { class: 'form', method: 'dialog' },
      intro ? h('p', { class: 'intro' }, intro) : null,
      h('div', { class: 'fields' }, fields),
      status,
      h('div', { class: 'actions' }, submitBtn, cancelBtn));
    const dlg = h('dialog', { 'aria-labelledby': titleId }, h('h2', { id: titleId }, title), f);
    let result;
    cancelBtn.addEventListener('click', () => dlg.close());
    dlg.addEventListener('close', () => { dlg.remove(); resolve(result); });
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (!f.reportValidity()) return;
      clear(status);
      const values = Object.fromEntries(new FormData(f).entries());
      try {
        result = await busy(submitBtn, () => onSubmit(values));
        dlg.close();
      } catch (err) {
        clear(status, errorNotice(err));
      }
    });
    document.body.appendChild(dlg);
    dlg.showModal();
  });
}

/** loading is a placeholder while data is on its way. */
export function loading() {
  return h('p', { class: 'loading', role: 'status' }, t('common.loading'));
}

/**
 * later renders into a placeholder once promise settles: render(value) on
 * success, an error notice otherwise.
 */
export function later(promise, render) {
  const box = h('div', { class: 'later' }, loading());
  promise.then((v) => clear(box, render(v)), (err) => clear(box, errorNotice(err)));
  return box;
}
