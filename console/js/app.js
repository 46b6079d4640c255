// app.js — sign-in, sign-out and the pages, chosen by the location's hash
// (#keys, #users, #user/UIN, #apikeys, #audit: never anything secret).
import { session, login, logout } from './api.js';
import { showError, closeDialog as closeDialogIfOpen } from './ui.js';
import { keysView } from './keys.js';
import { usersView } from './users.js';
import { apiKeysView } from './apikeys.js';
import { auditView } from './audit.js';

const $ = (id) => document.getElementById(id);
let me = null;

function showSignin(err) {
  me = null;
  $('nav').hidden = true;
  $('signout').hidden = true;
  $('whoami').textContent = '';
  $('view').hidden = true;
  $('view').replaceChildren();
  $('signin').hidden = false;
  showError($('si-error'), err);
  document.body.dataset.ready = 'signin';
  $('si-id').focus();
}

async function route() {
  if (!me) return;
  const view = $('view');
  const [page, arg] = (location.hash.slice(1) || 'keys').split('/');
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.getAttribute('href') === `#${page}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  delete document.body.dataset.ready;
  if (page === 'users') await usersView(view);
  else if (page === 'user') await keysView(view, me, arg);
  else if (page === 'apikeys') await apiKeysView(view);
  else if (page === 'audit') await auditView(view);
  else await keysView(view, me);
}

function signedIn(r) {
  me = r;
  $('signin').hidden = true;
  $('view').hidden = false;
  $('nav').hidden = false;
  $('signout').hidden = false;
  const root = r.Kind === 'root';
  for (const a of document.querySelectorAll('[data-root]')) a.hidden = !root;
  $('whoami').textContent = `User ${r.Uin}${r.Kind ? ` (${r.Kind})` : ''}${r.SecretId ? ` · ${r.SecretId}` : ` · ${r.Login}`}`;
  route();
}

// A request whose session ended (expired, key disabled) returns to sign-in, saying why.
window.addEventListener('lk-session-ended', (ev) => {
  closeDialogIfOpen();
  showSignin(ev.detail);
});

$('signin-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const id = $('si-id'), key = $('si-key');
  $('si-submit').disabled = true;
  try {
    const r = await login(id.value.trim(), key.value);
    key.value = ''; // the secret is not kept by the page
    showError($('si-error'), null);
    signedIn(r);
  } catch (e) {
    showError($('si-error'), e); // the SecretId typed stays; the SecretKey too, to correct
  } finally {
    $('si-submit').disabled = false;
  }
});

$('signout').addEventListener('click', async () => {
  try {
    await logout();
  } finally {
    showSignin(null);
  }
});

window.addEventListener('hashchange', route);

session().then(signedIn, () => showSignin(null));
