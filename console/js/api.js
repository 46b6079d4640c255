// api.js — every action of the console is a call of the management API on
// the same origin; every refusal shown is the API's code and message.
// The CSRF token lives in this module only (memory), never in storage.

let csrf = '';

export class ApiError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

export const CAM = '2019-01-16';
export const APIKEY = '2026-12-07';

async function envelope(res) {
  let body;
  try {
    body = await res.json();
  } catch {
    throw new ApiError('InternalError', `the service answered HTTP ${res.status} without a JSON body`);
  }
  const r = body && body.Response;
  if (!r) throw new ApiError('InternalError', 'the answer has no Response');
  if (r.Error) {
    const e = new ApiError(r.Error.Code, r.Error.Message);
    // the session ended (expired, signed out elsewhere, its key disabled): back to sign-in
    if (e.code.startsWith('AuthFailure.Session')) window.dispatchEvent(new CustomEvent('lk-session-ended', { detail: e }));
    throw e;
  }
  return r;
}

// Basic credentials for a pair, without putting them anywhere but the header.
function basic(id, key) {
  const bytes = new TextEncoder().encode(`${id}:${key}`);
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return 'Basic ' + btoa(s);
}

export async function session() {
  const r = await envelope(await fetch('/console/api/session', { credentials: 'same-origin', cache: 'no-store' }));
  csrf = r.CsrfToken;
  return r;
}

export async function login(id, key) {
  const r = await envelope(await fetch('/console/api/login', {
    method: 'POST', credentials: 'same-origin', cache: 'no-store',
    headers: { Authorization: basic(id, key) },
  }));
  csrf = r.CsrfToken;
  return r;
}

export async function logout() {
  try {
    await envelope(await fetch('/console/api/logout', {
      method: 'POST', credentials: 'same-origin', headers: { 'X-CSRF-Token': csrf },
    }));
  } finally {
    csrf = '';
  }
}

// An action with the session (or, for an identity check, with a pair:
// reauth = {id, key}; the API then verifies that pair itself).
export async function call(action, params = {}, version = CAM, reauth = null) {
  const headers = { 'Content-Type': 'application/json', 'X-TC-Action': action, 'X-TC-Version': version };
  if (reauth) headers.Authorization = basic(reauth.id, reauth.key);
  else headers['X-CSRF-Token'] = csrf;
  const res = await fetch('/', {
    method: 'POST', credentials: 'same-origin', cache: 'no-store', headers, body: JSON.stringify(params),
  });
  return envelope(res);
}
