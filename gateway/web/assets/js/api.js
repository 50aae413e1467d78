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
  if (res.ok && o.file) {
    const cd = res.headers.get('Content-Disposition') || '';
    const m = /filename="?([^";]+)"?/.exec(cd);
    return { blob: await res.blob(), filename: m ? m[1] : 'download' };
  }
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

// The gateway computes only a few reports at once and answers 503 to one
// more: the console sends its report calls one after another, and retries a
// busy answer a few times after the Retry-After it gave.
const reportRetries = 4;
const reportMaxWaitS = 5;
let reportChain = Promise.resolve();

/**
 * report is call for the report routes: queued behind the console's other
 * report calls, retried while the gateway is busy.
 */
export function report(method, path, o = {}) {
  const run = async () => {
    for (let attempt = 0; ; attempt += 1) {
      try {
        // eslint-disable-next-line no-await-in-loop
        return await call(method, path, o);
      } catch (err) {
        if (err.code !== 'UNAVAILABLE' || attempt >= reportRetries) throw err;
        const waitS = Math.min(Number(err.problem.retry_after) || 1, reportMaxWaitS);
        // eslint-disable-next-line no-await-in-loop
        await new Promise((r) => { setTimeout(r, waitS * 1000); });
      }
    }
  };
  const p = reportChain.then(run, run);
  reportChain = p.catch(() => {});
  return p;
}

/** saveFile hands a downloaded blob to the browser as a file. */
export function saveFile({ blob, filename }) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

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
