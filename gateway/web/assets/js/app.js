// app.js — the console's shell: session, language, navigation by role.
// Routes are hashes (#/section?key=value) so the gateway serves one page.

import { h, clear, button, field, dialog, loading, errorNotice, notice } from './dom.js';
import { t, lang, setLang, roleText } from './i18n.js';
import { get, put, del, setCsrf, whenSessionEnds, seg } from './api.js';
import { policyPeriods, loadPolicy } from './views/common.js';
import { signInPage } from './views/signin.js';
import * as agency from './views/agency.js';
import * as finance from './views/finance.js';
import * as scitech from './views/scitech.js';
import * as auditor from './views/auditor.js';

const byRole = { agency, finance, scitech, auditor };
const root = document.getElementById('app');

// flash is a message for the next render ("voucher paid"), shown once.
const state = { session: null, policy: null, message: '', flash: '' };

function parseHash() {
  const m = /^#\/([a-z-]*)(?:\?(.*))?$/.exec(window.location.hash);
  if (!m) return { id: '', params: {} };
  return { id: m[1], params: Object.fromEntries(new URLSearchParams(m[2] || '')) };
}

function go(id, params) {
  const q = params ? new URLSearchParams(params).toString() : '';
  const hash = `#/${id}${q ? `?${q}` : ''}`;
  if (window.location.hash === hash) render();
  else window.location.hash = hash;
}

function langSwitch() {
  const other = lang() === 'zh' ? 'en' : 'zh';
  return h('button', {
    type: 'button', class: 'btn link lang', lang: other === 'zh' ? 'zh-CN' : 'en', id: 'lang-switch',
    onclick: () => { setLang(other); render(); },
  }, other === 'zh' ? '中文' : 'English');
}

function showSignIn() {
  document.title = `${t('signin.title')} · ${t('app.title')}`;
  clear(root, signInPage({
    message: state.message,
    langSwitch: langSwitch(),
    onSignedIn: async (session) => {
      state.message = '';
      await begin(session);
      if (!parseHash().id) go(byRole[session.role].sections[0].id);
      else render();
    },
  }));
  const first = root.querySelector('input');
  if (first) first.focus();
}

async function begin(session) {
  state.session = session;
  setCsrf(session.csrf_token);
  state.policy = await loadPolicy().catch(() => null);
}

function changePassword() {
  const me = state.session.name;
  dialog({
    title: t('users.changeMine'), submit: t('users.setPw'),
    fields: [
      field({ name: 'current', label: t('users.currentPw'), type: 'password', autocomplete: 'current-password', hint: t('users.currentHint') }),
      field({ name: 'pw', label: t('users.newPw'), type: 'password', required: true, autocomplete: 'new-password', attrs: { minlength: 10, maxlength: 128 } }),
      field({ name: 'pw2', label: t('users.repeatPw'), type: 'password', required: true, autocomplete: 'new-password', attrs: { minlength: 10, maxlength: 128 } }),
    ],
    onSubmit: async (vals) => {
      if (vals.pw !== vals.pw2) throw Object.assign(new Error('mismatch'), { code: 'PASSWORDS_DIFFER' });
      const body = { new_password: vals.pw };
      if (vals.current) body.current_password = vals.current;
      await put(`/v1/principals/${seg(me)}/password`, body);
      return true;
    },
  });
}

async function signOut() {
  try {
    await del('/v1/sessions/current', { quiet401: true });
  } catch {
    // Already ended: nothing to undo.
  }
  state.session = null;
  setCsrf('');
  state.message = t('signin.signedOut');
  window.location.hash = '';
  showSignIn();
}

function render() {
  if (!state.session) {
    showSignIn();
    return;
  }
  const view = byRole[state.session.role];
  if (!view) {
    clear(root, errorNotice({ code: 'UNKNOWN_ROLE' }));
    return;
  }
  const { id, params } = parseHash();
  const section = view.sections.find((s) => s.id === id) || view.sections[0];
  const ctx = {
    session: state.session, policy: state.policy, periods: policyPeriods(state.policy), params, go,
    rerender: render,
    // done re-renders the section after a change, with a message; with
    // policy it reads the policy again first.
    done: async (message, o = {}) => {
      if (o.policy) state.policy = await loadPolicy().catch(() => state.policy);
      state.flash = message;
      render();
    },
  };
  const flash = state.flash;
  state.flash = '';
  const title = t(section.label);
  document.title = `${title} · ${t('app.title')}`;
  const main = h('main', { id: 'main', tabindex: '-1' }, h('h1', { class: 'page-title' }, title), loading());
  const nav = h('nav', { 'aria-label': t('nav.label') }, h('ul', {}, view.sections.map((s) => h('li', {},
    h('a', { href: `#/${s.id}`, 'aria-current': s === section ? 'page' : null }, t(s.label))))));
  clear(root,
    h('a', { class: 'skip-link', href: '#main', onclick: (ev) => { ev.preventDefault(); main.focus(); } }, t('nav.skip')),
    h('header', { class: 'topbar' },
      h('div', { class: 'brand' }, h('span', { class: 'emblem', 'aria-hidden': 'true' }, '券'), h('span', {}, t('app.title'))),
      h('div', { class: 'who' },
        h('span', { class: 'user' }, state.session.name),
        h('span', { class: 'role' }, roleText(state.session.role)),
        state.session.agency_id ? h('code', { class: 'sub' }, state.session.agency_id) : null),
      h('div', { class: 'tools' },
        langSwitch(),
        button(t('users.changeMine'), { kind: 'link', onClick: changePassword }),
        button(t('signin.signOut'), { kind: 'secondary', small: true, onClick: signOut, ariaLabel: t('signin.signOut') }))),
    h('div', { class: 'layout' }, nav, main));
  let content;
  try {
    content = section.render(ctx);
  } catch (err) {
    content = errorNotice(err);
  }
  clear(main, h('h1', { class: 'page-title' }, title), flash ? notice('ok', flash) : null, content);
}

function focusMain() {
  const main = document.getElementById('main');
  if (main) main.focus({ preventScroll: false });
}

whenSessionEnds(() => {
  if (!state.session) return;
  state.session = null;
  setCsrf('');
  state.message = t('signin.expired');
  showSignIn();
});

window.addEventListener('hashchange', () => {
  render();
  focusMain();
});

async function start() {
  document.documentElement.lang = lang() === 'zh' ? 'zh-CN' : 'en';
  clear(root, loading());
  try {
    await begin(await get('/v1/sessions/current', { quiet401: true }));
  } catch {
    state.session = null;
  }
  render();
}

start();
