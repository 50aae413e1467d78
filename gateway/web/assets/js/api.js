// api.js — the console's only way to the gateway. Same origin, the
// session cookie rides along by itself; every change carries the session's
// CSRF token. Failures become ApiError with the problem's stable code, so
// the views show a sentence for the code, never the raw answer.

let csrfToken = '';
let onSessionEnded = () => {};

/** ApiError is a refused or failed call; code is the problem's code. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.code || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = problem.code || (status === 0 ? 'NETWORK' : `HTTP_${status}`);
    this.problem = problem;
  }
}

/** setCsrf keeps the session's CSRF token for the changes to come. */
export function setCsrf(token) {
  csrfToken = token || '';
}

/** whenSessionEnds registers what to do when the gateway says 401. */
export function whenSessionEnds(fn) {
  onSessionEnded = fn;
}

/**
 * call sends method path. o.json is sent as JSON; o.body as is with
 * o.type as its Content-Type. It resolves to the JSON answer (null for
 * 204) and rejects with ApiError.
 */
export async function call(method, path, o = {}) {
  const headers = { Accept: 'application/json' };
  let { body } = o;
  if (o.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(o.json);
  } else if (o.type) {
    headers['Content-Type'] = o.type;
  }
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) {
    headers['X-CSRF-Token'] = csrfToken;
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body, credentials: 'same-origin', cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, { code: 'NETWORK', detail: String(e) });
  }
  if (res.status === 204) return null;
  const ct = res.headers.get('Content-Type') || '';
  if (!res.ok) {
    let problem = {};
    if (ct.includes('json')) {
      try { problem = await res.json(); } catch { problem = {}; }
    }
    if (res.status === 401 && !o.quiet401) onSessionEnded();
    const retry = res.headers.get('Retry-After');
    if (retry) problem.retry_after = retry;
    throw new ApiError(res.status, problem);
  }
  return ct.includes('json') ? res.json() : res.text();
}

export const get = (path, o) => call('GET', path, o);
export const post = (path, json, o = {}) => call('POST', path, { ...o, json: json ?? {} });
export const put = (path, json, o = {}) => call('PUT', path, { ...o, json });
export const del = (path, o) => call('DELETE', path, o);

/** qs builds a query string from the non-empty entries of params. */
export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') p.set(k, v);
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** seg escapes one path segment. */
export const seg = encodeURIComponent;

/**
 * all follows next_cursor for a listing, up to max items (a bound, so a
 * huge ledger cannot freeze the page).
 */
export async function all(path, params = {}, max = 2000) {
  const items = [];
  let cursor = '';
  do {
    // eslint-disable-next-line no-await-in-loop
    const page = await get(path + qs({ ...params, limit: 500, cursor }));
    items.push(...(page.items || []));
    cursor = page.next_cursor || '';
  } while (cursor && items.length < max);
  return { items: items.slice(0, max), more: Boolean(cursor) };
}
