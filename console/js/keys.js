// keys.js — "My access keys" (and a user's keys, for a root account): the
// seeds' table, Create Key (the secret shown once), Disable/Enable, Delete
// (disabled keys only, after identity verification), More Access Records.
import { call } from './api.js';
import { el, showError, openDialog, confirmDialog, table, dash, secretRow, download } from './ui.js';

const KEYS_MAX = 2; // a user's access keys, as the seeds' console has it

export async function keysView(view, me, targetUin) {
  delete document.body.dataset.ready; // set again once drawn (the browser test waits on it)
  const own = !targetUin || String(targetUin) === String(me.Uin);
  const target = own ? {} : { TargetUin: Number(targetUin) };
  const title = own ? 'My access keys' : `Access keys of user ${targetUin}`;
  const err = el('p', { class: 'error', id: 'keys-error', role: 'alert' });
  const createBtn = el('button', { type: 'button', id: 'create-key' }, 'Create Key');
  const why = el('span', { class: 'hint', id: 'create-why' });
  const body = el('div', { id: 'keys-table', 'aria-live': 'polite' }, el('p', { class: 'hint', text: 'Loading…' }));
  view.replaceChildren(el('h1', { text: title }), el('div', { class: 'toolbar' }, createBtn, why), err, body);

  const reload = () => keysView(view, me, targetUin);
  let keys;
  try {
    keys = (await call('ListAccessKeys', target)).AccessKeys;
  } catch (e) {
    createBtn.disabled = true;
    body.replaceChildren();
    showError(err, e);
    return;
  }
  if (keys.length >= KEYS_MAX) {
    createBtn.disabled = true;
    createBtn.setAttribute('aria-describedby', 'create-why');
    why.textContent = `${keys.length} keys: a user holds at most ${KEYS_MAX}. Delete one to create another.`;
  }
  createBtn.addEventListener('click', () => createKey(target, err, reload));

  const rows = keys.map((k) => {
    const active = k.Status === 'Active';
    const ops = el('td', { class: 'ops' },
      el('button', {
        type: 'button', class: 'link', 'data-op': active ? 'disable' : 'enable', 'data-key': k.AccessKeyId,
        onclick: () => confirmDialog(active ? 'Disable key' : 'Enable key',
          active ? `Disable ${k.AccessKeyId}? Requests signed with it will be refused.`
            : `Enable ${k.AccessKeyId}? It will be accepted again.`,
          active ? 'Disable' : 'Enable',
          async () => {
            await call('UpdateAccessKey', { ...target, AccessKeyId: k.AccessKeyId, Status: active ? 'Inactive' : 'Active' });
            reload();
          }, active ? 'danger' : ''),
      }, active ? 'Disable' : 'Enable'),
      el('button', {
        type: 'button', class: 'link', 'data-op': 'delete', 'data-key': k.AccessKeyId, disabled: active,
        title: active ? 'Disable the key before deleting it' : null,
        onclick: () => deleteKey(me, target, k.AccessKeyId, reload),
      }, 'Delete'),
      el('button', {
        type: 'button', class: 'link', 'data-op': 'records', 'data-key': k.AccessKeyId,
        onclick: () => records(target, k.AccessKeyId),
      }, 'More Access Records'));
    return el('tr', { 'data-key': k.AccessKeyId },
      el('td', {}, el('code', { text: k.AccessKeyId })),
      el('td', { class: `status-${k.Status}`, text: k.Status }),
      el('td', { text: dash(k.CreateTime) }),
      el('td', { 'data-last': k.AccessKeyId, text: '…' }),
      el('td', { text: k.ExpireTime ? k.ExpireTime : 'Never' }),
      ops);
  });
  body.replaceChildren(keys.length
    ? table(`${keys.length} access key${keys.length === 1 ? '' : 's'}`, ['SecretId', 'Status', 'CreateTime', 'LastAccessTime', 'ExpireTime', 'Operation'], rows)
    : el('p', { class: 'hint', text: 'No access keys yet.' }));
  performance.mark('lk-keys-drawn'); // the browser test's figure
  await lastUsed(body, target, keys.map((k) => k.AccessKeyId));
  document.body.dataset.ready = 'keys';
}

// LastAccessTime, filled in after the table is drawn (GetSecurityLastUsed takes 10 keys a call).
async function lastUsed(body, target, ids) {
  for (let i = 0; i < ids.length; i += 10) {
    let rows = [];
    try {
      rows = (await call('GetSecurityLastUsed', { ...target, SecretIdList: ids.slice(i, i + 10) })).SecretIdLastUsedRows;
    } catch {
      rows = [];
    }
    for (const row of rows) {
      const td = body.querySelector(`td[data-last="${row.SecretId}"]`);
      if (td) td.textContent = dash(row.LastUsedDate);
    }
  }
  for (const td of body.querySelectorAll('td[data-last]')) if (td.textContent === '…') td.textContent = '—';
}

async function createKey(target, err, reload) {
  showError(err, null);
  let r;
  try {
    r = (await call('CreateAccessKey', target)).AccessKey;
  } catch (e) {
    showError(err, e);
    return;
  }
  // The pair lives in this closure and the dialog only; closing forgets both.
  let pair = { id: r.AccessKeyId, key: r.SecretAccessKey };
  r = null;
  openDialog('New access key', [
    el('p', { class: 'notice', id: 'once', text: 'The SecretKey is shown only now and will not be shown again. Copy it or download the CSV before closing.' }),
    ...secretRow('SecretId', 'new-id', pair.id),
    ...secretRow('SecretKey', 'new-key', pair.key),
  ], [
    { label: 'Download CSV', cls: 'secondary', id: 'csv', onclick: async () => { download('accessKeys.csv', `SecretId,SecretKey\r\n${pair.id},${pair.key}\r\n`); return false; } },
    { label: 'Close', id: 'close-new' },
  ], () => { pair = null; reload(); });
}

function deleteKey(me, target, id, reload) {
  const proxy = !me.SecretId;
  const input = el('input', {
    id: 'reauth', type: proxy ? 'text' : 'password', autocomplete: 'off', spellcheck: 'false', required: true,
  });
  openDialog('Delete key', [
    el('p', { text: `Delete ${id}? This cannot be undone.` }),
    el('label', { for: 'reauth', text: proxy ? `Type the SecretId ${id} to confirm` : `Identity verification: the SecretKey of ${me.SecretId}, the key you signed in with` }),
    input,
  ], [
    { label: 'Cancel', cls: 'secondary' },
    {
      label: 'Delete', cls: 'danger', id: 'dlg-confirm',
      onclick: async (errNode) => {
        if (proxy && input.value !== id) {
          errNode.textContent = 'The SecretId typed is not the key being deleted';
          return false;
        }
        // the API verifies the re-entered pair itself (not the session)
        await call('DeleteAccessKey', { ...target, AccessKeyId: id }, undefined, proxy ? null : { id: me.SecretId, key: input.value });
        input.value = '';
        reload();
        return true;
      },
    },
  ]);
}

async function records(target, id) {
  const holder = el('div', {}, el('p', { class: 'hint', text: 'Loading…' }));
  openDialog(`Access records of ${id}`, [holder], [{ label: 'Close', id: 'close-records' }]);
  try {
    const r = await call('ListAccessRecords', { ...target, AccessKeyId: id });
    holder.replaceChildren(
      el('p', { class: 'hint', text: `The ${r.Records.length} latest records of 90 days; last access ${dash(r.LastAccessTime)}.` }),
      r.Records.length ? table('Access records', ['Time', 'Client IP', 'Service', 'Result'],
        r.Records.map((x) => el('tr', {}, el('td', { text: x.Time }), el('td', { text: x.ClientIp }), el('td', { text: dash(x.Service) }), el('td', { text: x.Result }))))
        : el('p', { text: 'No access recorded.' }));
  } catch (e) {
    holder.replaceChildren(el('p', { class: 'error', role: 'alert', text: `${e.message} (${e.code})` }));
  }
}
