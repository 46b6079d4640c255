// users.js — the account's users (root accounts): kind, login, self-service
// grant (changed here with UpdateUser), key count; opening one shows its key page.
import { call } from './api.js';
import { el, showError, table, dash } from './ui.js';

const GRANTS = ['none', 'read', 'manage'];

// The grant of one sub-user or collaborator: a labelled select and a Save
// button in a form of their own, the API's answer (or refusal) next to them.
// A refusal leaves the chosen value in the select, to correct or retry.
function grantForm(u) {
  const id = `ss-${u.Uin}`;
  let saved = u.SelfService;
  const sel = el('select', { id, name: 'self-service', 'data-uin': u.Uin, 'aria-describedby': `${id}-msg` },
    GRANTS.map((g) => el('option', { value: g, selected: g === saved }, g)));
  const btn = el('button', { type: 'submit', class: 'secondary', id: `${id}-save` }, 'Save');
  const msg = el('span', { id: `${id}-msg`, class: 'hint', role: 'status' });
  const err = el('p', { id: `${id}-error`, class: 'error', role: 'alert' });
  const form = el('form', { class: 'grant', 'data-uin': u.Uin },
    el('label', { for: id, class: 'sr-only', text: `Self-service of user ${u.Uin}` }), sel, btn, msg, err);
  sel.addEventListener('change', () => {
    msg.textContent = sel.value === saved ? '' : `not saved (was ${saved})`;
  });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const want = sel.value;
    btn.disabled = true;
    showError(err, null);
    msg.textContent = 'Saving…';
    try {
      await call('UpdateUser', { TargetUin: Number(u.Uin), SelfService: want });
      saved = want;
      msg.textContent = `Saved: ${want}`;
    } catch (e) {
      msg.textContent = `not saved (still ${saved})`;
      showError(err, e);
      sel.focus();
    } finally {
      btn.disabled = false;
    }
  });
  return form;
}

export async function usersView(view) {
  delete document.body.dataset.ready; // set again once drawn (the browser test waits on it)
  const err = el('p', { class: 'error', id: 'users-error', role: 'alert' });
  const body = el('div', { id: 'users-table' }, el('p', { class: 'hint', text: 'Loading…' }));
  view.replaceChildren(el('h1', { text: 'Users' }), err, body);
  let users;
  try {
    users = (await call('ListUsers')).Users;
  } catch (e) {
    body.replaceChildren();
    showError(err, e);
    return;
  }
  body.replaceChildren(el('p', { class: 'hint', text: 'Self-service: what a sub-user or collaborator may do with its own access keys (none, read, manage).' }),
    table(`${users.length} users`, ['UIN', 'Kind', 'Login', 'Self-service', 'Keys', 'CreateTime'],
      users.map((u) => el('tr', { 'data-uin': u.Uin },
        el('td', {}, el('a', { href: `#user/${u.Uin}` }, String(u.Uin))),
        el('td', { text: u.Kind }), el('td', { text: dash(u.Login) }),
        u.Kind === 'root' ? el('td', { text: '—' }) : el('td', {}, grantForm(u)),
        el('td', { text: String(u.KeyCount) }), el('td', { text: u.CreateTime })))));
  document.body.dataset.ready = 'users';
}
