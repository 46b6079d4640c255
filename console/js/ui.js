// ui.js — small DOM helpers: elements, errors next to their cause, dialogs.
export function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, '');
    else e.setAttribute(k, v);
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k);
  return e;
}

export function errText(err) {
  return err && err.code ? `${err.message} (${err.code})` : String(err && err.message ? err.message : err);
}

export function showError(node, err) {
  node.textContent = err ? errText(err) : '';
}

const dlg = () => document.getElementById('dlg');
let cleanup = null; // what closing the open dialog must do
let generation = 0;  // a close event of an earlier dialog must not empty a newer one

function finish() {
  const c = cleanup;
  cleanup = null;
  if (c) c();
}

// A modal dialog: title, body nodes, buttons [{label, cls, onclick(errNode) -> Promise<bool close>}].
// Closing it (Esc, Cancel, Close) empties it: what it showed is forgotten.
export function openDialog(title, body, buttons, onClose) {
  const d = dlg();
  const err = document.getElementById('dlg-error');
  document.getElementById('dlg-title').textContent = title;
  const b = document.getElementById('dlg-body');
  b.replaceChildren(...body);
  err.textContent = '';
  const acts = document.getElementById('dlg-actions');
  acts.replaceChildren(...buttons.map((btn) => el('button', {
    type: 'button', class: btn.cls || '', id: btn.id,
    onclick: async (ev) => {
      ev.preventDefault();
      if (!btn.onclick) return closeDialog();
      ev.target.disabled = true;
      try {
        if (await btn.onclick(err)) closeDialog();
      } catch (e) {
        showError(err, e);
      } finally {
        ev.target.disabled = false;
      }
    },
  }, btn.label)));
  finish();
  const gen = ++generation;
  cleanup = () => {
    b.replaceChildren();
    acts.replaceChildren();
    err.textContent = '';
    if (onClose) onClose();
  };
  d.onclose = () => { if (gen === generation && !d.open) finish(); }; // Esc
  // Enter in a dialog's only field submits its form, which would close it (method=dialog) and
  // forget what was typed: Enter means the dialog's action, its last button, as a click would.
  document.getElementById('dlg-form').onsubmit = (ev) => {
    ev.preventDefault();
    const last = acts.querySelector('button:last-of-type');
    if (last && !last.disabled) last.click();
  };
  d.showModal();
  const first = b.querySelector('input, select, textarea') || acts.querySelector('button');
  if (first) first.focus();
}

export function closeDialog() {
  if (dlg().open) dlg().close();
  finish();
}

export function confirmDialog(title, text, label, action, cls = 'danger') {
  openDialog(title, [el('p', { text })], [
    { label: 'Cancel', cls: 'secondary' },
    { label, cls, id: 'dlg-confirm', onclick: async () => { await action(); return true; } },
  ]);
}

export function table(caption, heads, rows) {
  return el('div', { class: 'table-wrap' }, el('table', {},
    el('caption', { class: 'hint', text: caption }),
    el('thead', {}, el('tr', {}, heads.map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, rows)));
}

export function dash(s) {
  return s ? s : '—';
}

// A read-only field with a copy button (the secret stays in the dialog only).
export function secretRow(label, id, value) {
  const input = el('input', { id, readonly: true, value, spellcheck: 'false', autocomplete: 'off' });
  const msg = el('span', { class: 'hint', role: 'status' });
  return [el('label', { for: id, text: label }), el('div', { class: 'secret-row' }, input,
    el('button', {
      type: 'button', class: 'secondary', id: `${id}-copy`, 'aria-label': `Copy ${label}`,
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(input.value);
          msg.textContent = 'Copied';
        } catch {
          input.select();
          msg.textContent = 'Select and copy with Ctrl+C';
        }
      },
    }, 'Copy'), msg)];
}

// A file made in the browser (a Blob): the secret never goes into a URL the page loads.
export function download(name, text, type = 'text/csv') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}
