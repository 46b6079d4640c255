// apikeys.js — the account's API keys (root accounts): TokenHub's list, a
// create dialog that shows the key once, Edit (description, scope,
// allowlist), a status switch, Delete with a second confirmation.
import { call, APIKEY } from './api.js';
import { el, showError, openDialog, table, dash, secretRow } from './ui.js';

const lines = (s) => s.split(/[\n,]/).map((x) => x.trim()).filter(Boolean);

function fields(k = {}, create = true) {
  const f = {
    name: el('input', { id: 'ak-name', maxlength: 64, required: true, value: k.Name || '' }),
    desc: el('input', { id: 'ak-desc', maxlength: 256, value: k.Description || '' }),
    scope: el('input', { id: 'ak-scope', value: (k.Scope || []).filter((s) => s !== 'all').join(', '), 'aria-describedby': 'ak-scope-hint' }),
    allow: el('textarea', { id: 'ak-allow', rows: 3, 'aria-describedby': 'ak-allow-hint' }),
    expire: el('input', { id: 'ak-expire', placeholder: 'YYYY-MM-DD hh:mm:ss (UTC)' }),
    rate: el('input', { id: 'ak-rate', type: 'number', min: 0 }),
  };
  f.allow.value = (k.IpAllowlist || []).join('\n');
  const nodes = [];
  if (create) nodes.push(el('label', { for: 'ak-name', text: 'Name' }), f.name);
  nodes.push(el('label', { for: 'ak-desc', text: 'Description' }), f.desc,
    el('label', { for: 'ak-scope', text: 'Access scope' }), f.scope,
    el('p', { class: 'hint', id: 'ak-scope-hint', text: 'Services, separated by commas; empty: All.' }),
    el('label', { for: 'ak-allow', text: 'IP allowlist' }), f.allow,
    el('p', { class: 'hint', id: 'ak-allow-hint', text: 'Up to 50 addresses or CIDR ranges, one a line; empty: any address.' }));
  if (create) nodes.push(el('label', { for: 'ak-expire', text: 'Expiry (empty: never)' }), f.expire,
    el('label', { for: 'ak-rate', text: 'Rate limit (requests per second; empty: none)' }), f.rate);
  return { f, nodes };
}

export async function apiKeysView(view) {
  delete document.body.dataset.ready; // set again once drawn (the browser test waits on it)
  const err = el('p', { class: 'error', id: 'apikeys-error', role: 'alert' });
  const createBtn = el('button', { type: 'button', id: 'create-apikey' }, 'Create API key');
  const body = el('div', { id: 'apikeys-table' }, el('p', { class: 'hint', text: 'Loading…' }));
  view.replaceChildren(el('h1', { text: 'API keys' }), el('div', { class: 'toolbar' }, createBtn), err, body);
  const reload = () => apiKeysView(view);
  createBtn.addEventListener('click', () => create(reload));
  let keys;
  try {
    keys = (await call('DescribeApiKeys', {}, APIKEY)).ApiKeys;
  } catch (e) {
    createBtn.disabled = true;
    body.replaceChildren();
    showError(err, e);
    return;
  }
  const rows = keys.map((k) => {
    const active = k.Status === 'Active';
    const sw = el('input', {
      type: 'checkbox', role: 'switch', id: `sw-${k.ApiKeyId}`, checked: active, 'data-op': 'switch',
      'aria-label': `${k.Name} enabled`,
      onchange: async () => {
        sw.disabled = true;
        try {
          await call('ModifyApiKey', { ApiKeyId: k.ApiKeyId, Status: sw.checked ? 'Active' : 'Inactive' }, APIKEY);
          reload();
        } catch (e) {
          sw.checked = !sw.checked;
          sw.disabled = false;
          showError(err, e);
        }
      },
    });
    return el('tr', { 'data-key': k.ApiKeyId },
      el('td', { text: k.Name }), el('td', { text: dash(k.Description) }),
      el('td', {}, el('code', { text: k.MaskedKey })),
      el('td', {}, sw, el('span', { class: `status-${k.Status}`, text: ` ${k.Status}` })),
      el('td', { text: k.Scope.includes('all') ? 'All' : k.Scope.join(', ') }),
      el('td', { text: k.IpAllowlist.length ? k.IpAllowlist.join(', ') : 'Any' }),
      el('td', { text: k.ExpireTime || 'Never' }),
      el('td', { text: k.RateLimit ? `${k.RateLimit}/${k.RateWindowSeconds}s` : 'None' }),
      el('td', { text: k.CreateTime }),
      el('td', { class: 'ops' },
        el('button', { type: 'button', class: 'link', 'data-op': 'edit', onclick: () => edit(k, reload) }, 'Edit'),
        el('button', { type: 'button', class: 'link', 'data-op': 'delete', onclick: () => del(k, reload) }, 'Delete')));
  });
  body.replaceChildren(keys.length
    ? table(`${keys.length} API key${keys.length === 1 ? '' : 's'}`, ['Name', 'Description', 'Key', 'Status', 'Access scope', 'IP allowlist', 'Expiry', 'Rate limit', 'CreateTime', 'Operation'], rows)
    : el('p', { class: 'hint', text: 'No API keys yet.' }));
  document.body.dataset.ready = 'apikeys';
}

function create(reload) {
  const { f, nodes } = fields();
  openDialog('Create API key', nodes, [
    { label: 'Cancel', cls: 'secondary' },
    {
      label: 'Create', id: 'dlg-confirm',
      onclick: async () => {
        const p = { Name: f.name.value.trim(), Scope: lines(f.scope.value), IpAllowlist: lines(f.allow.value) };
        if (f.desc.value.trim()) p.Description = f.desc.value.trim();
        if (f.expire.value.trim()) p.ExpireTime = f.expire.value.trim();
        if (f.rate.value.trim()) p.RateLimit = Number(f.rate.value);
        const r = (await call('CreateApiKey', p, APIKEY)).ApiKey;
        let value = r.ApiKey;
        setTimeout(() => openDialog('New API key', [
          el('p', { class: 'notice', id: 'once', text: 'The key is shown only now and will not be shown again.' }),
          el('p', { text: `${r.Name} (${r.ApiKeyId})` }),
          ...secretRow('API key', 'new-apikey', value),
        ], [{ label: 'Close', id: 'close-new' }], () => { value = null; reload(); }), 0);
        return true;
      },
    },
  ]);
}

function edit(k, reload) {
  const { f, nodes } = fields(k, false);
  openDialog(`Edit ${k.Name}`, [el('p', { class: 'hint', text: 'The name and the key itself cannot be changed.' }), ...nodes], [
    { label: 'Cancel', cls: 'secondary' },
    {
      label: 'Save', id: 'dlg-confirm',
      onclick: async () => {
        await call('ModifyApiKey', {
          ApiKeyId: k.ApiKeyId, Description: f.desc.value.trim(), Scope: lines(f.scope.value), IpAllowlist: lines(f.allow.value),
        }, APIKEY);
        reload();
        return true;
      },
    },
  ]);
}

function del(k, reload) {
  openDialog('Delete API key', [el('p', { text: `Delete the API key ${k.Name}?` })], [
    { label: 'Cancel', cls: 'secondary' },
    {
      label: 'Delete', cls: 'danger', id: 'dlg-confirm',
      onclick: async () => {
        setTimeout(() => openDialog('Really delete?', [
          el('p', { id: 'second', text: `Delete "${k.Name}" (${k.MaskedKey}, ${k.ApiKeyId}) for good? Services using it will be refused. This cannot be undone.` }),
        ], [
          { label: 'Keep it', cls: 'secondary' },
          {
            label: `Delete ${k.Name}`, cls: 'danger', id: 'dlg-confirm2',
            onclick: async () => { await call('DeleteApiKey', { ApiKeyId: k.ApiKeyId }, APIKEY); reload(); return true; },
          },
        ]), 0);
        return true;
      },
    },
  ]);
}
