// signin.js — the sign-in page: name and password, nothing else.

import { h, field, form, notice } from '../dom.js';
import { t } from '../i18n.js';
import { post } from '../api.js';

/**
 * signInPage renders the form; onSignedIn(session) is called with the
 * answer of POST /v1/sessions. message is shown above it (e.g. "your
 * session ended").
 */
export function signInPage({ onSignedIn, message, langSwitch }) {
  const f = form({
    cls: 'signin-form',
    fields: [
      field({ id: 'signin-name', name: 'name', label: t('signin.name'), required: true, autocomplete: 'username',
        attrs: { autocapitalize: 'off', spellcheck: 'false', pattern: '[a-z0-9][a-z0-9._\\-]{0,63}' } }),
      field({ id: 'signin-password', name: 'password', label: t('signin.password'), type: 'password', required: true,
        autocomplete: 'current-password' }),
    ],
    submit: t('signin.submit'),
    onSubmit: async (vals) => {
      const session = await post('/v1/sessions', { name: vals.name.trim(), password: vals.password }, { quiet401: true });
      onSignedIn(session);
      return null;
    },
  });
  return h('div', { class: 'signin' },
    h('div', { class: 'signin-box' },
      h('div', { class: 'signin-top' }, langSwitch),
      h('div', { class: 'emblem', 'aria-hidden': 'true' }, '券'),
      h('h1', {}, t('app.title')),
      h('p', { class: 'subtitle' }, t('app.subtitle')),
      message ? notice('info', message) : null,
      f,
      h('p', { class: 'hint' }, t('signin.help'))));
}
