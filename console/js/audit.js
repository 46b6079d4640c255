// audit.js — who changed what and when (root accounts), filtered by key and user.
import { call, APIKEY } from './api.js';
import { el, showError, table, dash } from './ui.js';

export async function auditView(view, filter = {}) {
  delete document.body.dataset.ready; // set again once drawn (the browser test waits on it)
  const err = el('p', { class: 'error', id: 'audit-error', role: 'alert' });
  const key = el('input', { id: 'audit-key', value: filter.key || '', spellcheck: 'false' });
  const user = el('input', { id: 'audit-user', value: filter.user || '', inputmode: 'numeric' });
  const form = el('form', { class: 'filters', id: 'audit-form' },
    el('div', {}, el('label', { for: 'audit-key', text: 'Key (SecretId or API key id)' }), key),
    el('div', {}, el('label', { for: 'audit-user', text: 'User (UIN)' }), user),
    el('div', {}, el('button', { type: 'submit' }, 'Filter')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    auditView(view, { key: key.value.trim(), user: user.value.trim() });
  });
  const body = el('div', { id: 'audit-table' }, el('p', { class: 'hint', text: 'Loading…' }));
  view.replaceChildren(el('h1', { text: 'Audit' }), form, err, body);
  const p = {};
  if (filter.user) p.TargetUin = Number(filter.user);
  if (filter.key) p[filter.key.startsWith('lk-') ? 'ApiKeyId' : 'AccessKeyId'] = filter.key;
  let ev;
  try {
    ev = (await call('DescribeAuditEvents', p, APIKEY)).Events;
  } catch (e) {
    body.replaceChildren();
    showError(err, e); // the filters typed stay in their fields
    return;
  }
  const by = (e) => e.CallerUin ? `${e.CallerUin} ${e.CallerSecretId || e.CallerLogin} from ${e.CallerIp}` : `local: ${dash(e.OperatorUser)}`;
  body.replaceChildren(ev.length ? table(`${ev.length} changes, newest first`, ['Time', 'Who', 'Action', 'Key / target', 'User', 'Changes'],
    ev.map((e) => el('tr', {}, el('td', { text: e.Time }), el('td', { text: by(e) }), el('td', { text: e.Action }),
      el('td', {}, el('code', { text: e.Target })), el('td', { text: String(e.Uin) }), el('td', { class: 'mono', text: dash(e.Fields) }))))
    : el('p', { class: 'hint', text: 'No changes recorded.' }));
  document.body.dataset.ready = 'audit';
}
