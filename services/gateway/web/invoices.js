// The Invoices page: plain DOM and fetch against the public API, with the token kept for the
// browser session by the login page. Every error the API gives is shown as it is.
'use strict';

const token = sessionStorage.getItem('billport-token');
if (!token) location.href = '/';

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
const state = { kind: 'subscription', view: '', org: '', filters: {}, cursors: [null], page: 0,
                orgs: new Map(), items: new Map(), me: null };

class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

async function api(method, path, { body, headers = {}, raw = false } = {}) {
  const init = { method, headers: { Authorization: 'Bearer ' + token, ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const r = await fetch('/api/v1' + path, init);
  if (r.status === 401) { sessionStorage.removeItem('billport-token'); location.href = '/'; }
  if (!r.ok) {
    let message = r.status + ' ' + r.statusText;
    try {
      const e = (await r.json()).error;
      message = e.message + (e.fields ? '\n' + Object.entries(e.fields).map(([k, v]) => `${k}: ${v}`).join('\n') : '');
    } catch (_) { /* not JSON */ }
    throw new ApiError(message, r.status);
  }
  return raw ? r : r.json();
}

function showError(err) {
  const box = $('#error');
  box.textContent = err instanceof ApiError ? err.message : 'Something went wrong: ' + err;
  box.style.display = 'block';
}
function notice(text) {
  $('#error').style.display = 'none';
  const box = $('#notice');
  box.textContent = text;
  box.style.display = 'block';
  setTimeout(() => { box.style.display = 'none'; }, 6000);
}
const guarded = (fn) => async (...args) => { try { await fn(...args); } catch (e) { showError(e); } };

function query() {
  const q = new URLSearchParams({ kind: state.kind });
  if (state.org) q.set('org_id', state.org);
  if (state.view) q.set('view', state.view);
  for (const [k, v] of Object.entries(state.filters)) if (v) q.set(k, v);
  return q;
}

// Amounts are decimal strings; they are grouped as text, never turned into binary floats.
function money(s) {
  if (s === null || s === undefined || s === '') return '';
  const [whole, cents = '00'] = String(s).replace('-', '').split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return (String(s).startsWith('-') ? '-' : '') + grouped + '.' + cents.padEnd(2, '0');
}

// Cents as BigInt, for the sums of the credit note dialog: exact, as the API's Decimal is.
function cents(s) {
  const m = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(String(s ?? '').trim());
  if (!m) return null;
  const v = BigInt(m[2]) * 100n + BigInt((m[3] || '').padEnd(2, '0'));
  return m[1] ? -v : v;
}
function fromCents(c) {
  const a = c < 0n ? -c : c;
  return (c < 0n ? '-' : '') + (a / 100n) + '.' + String(a % 100n).padStart(2, '0');
}
// Staff (admin, finance) approve, send, edit, credit and post payments; an org user reads and
// downloads within its own organization tree, and is shown no control the API would refuse it.
const isStaff = () => !!state.me && ['admin', 'finance'].includes(state.me.role);
const canCredit = isStaff;
const enc = encodeURIComponent;

function cell(text, cls) {
  const td = document.createElement('td');
  if (cls) td.className = cls;
  td.textContent = text;
  return td;
}

const SVG = 'http://www.w3.org/2000/svg';

// An icon of the page's sprite (Tabler Icons, put in the page by the gateway); decorative: the
// button that holds it carries the label.
function icon(name) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', 'ico');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const use = document.createElementNS(SVG, 'use');
  use.setAttribute('href', '#i-' + name);
  svg.appendChild(use);
  return svg;
}

// An action of a row: its label is the tooltip, and with the invoice id its accessible name.
function iconButton(label, name, action, invoice, extra = {}) {
  const b = document.createElement('button');
  b.type = 'button';
  b.title = extra.why ? `${label} (${extra.why})` : label;
  b.setAttribute('aria-label', label + ' ' + invoice.invoice_id);
  b.dataset.action = action;
  b.dataset.invoice = invoice.invoice_id;
  if (extra.state) b.dataset.state = extra.state;
  b.appendChild(icon(name));
  if (extra.disabled) b.disabled = true;
  return b;
}

function row(inv) {
  const tr = document.createElement('tr');
  tr.dataset.invoice = inv.invoice_id;
  const id = document.createElement('td');
  if (inv.proforma) id.textContent = 'Proforma';
  else {
    const a = document.createElement('a');
    a.textContent = inv.invoice_id;
    a.href = '#invoice=' + enc(inv.invoice_id);
    a.dataset.action = 'details';
    a.dataset.invoice = inv.invoice_id;
    id.appendChild(a);
  }
  tr.append(id, cell(inv.org_name), cell(inv.payable_on || ''), cell(money(inv.regular_charges), 'num'),
    cell(money(inv.additional_charges), 'num'), cell(money(inv.amount), 'num'),
    cell(money(inv.payments), 'num'), cell(money(inv.balance), 'num'));
  const st = cell('');
  const badge = document.createElement('span');
  badge.className = 'status ' + inv.status;
  badge.textContent = inv.status;
  st.appendChild(badge);
  tr.appendChild(st);
  const icons = cell('', 'icons');
  if (!inv.proforma) {
    const [change, ...others] = isStaff() ? staffActions(inv) : [];
    icons.append(
      iconButton('View Invoice', 'eye', 'view', inv),
      iconButton('Download Invoice', 'download', 'download', inv),
      ...(change ? [change] : []),
      iconButton('Export IPTs', 'file-export', 'ipt', inv),
      ...others);
  }
  tr.appendChild(icons);
  return tr;
}

// The actions only staff may take, in the seed's order: edit (or credit), then after Export IPTs
// approve, send and post payment.
function staffActions(inv) {
  const paid = inv.status === 'PAYMENT_DONE';
  const left = cents(inv.amount) - (cents(inv.credited) ?? 0n);
  return [
    // A sent invoice is final: it is corrected by a credit note, never edited.
    inv.sent
      ? iconButton('Issue credit note', 'receipt-refund', 'credit', inv,
        { disabled: left <= 0n, why: left <= 0n ? 'nothing left to credit' : '' })
      : iconButton('Edit Invoice', 'pencil', 'edit', inv, { disabled: paid, why: paid ? 'paid in full' : '' }),
    inv.approved
      ? iconButton('Approved', 'circle-check-filled', 'approve', inv, { state: 'approved', disabled: true })
      : iconButton('Approve Invoice', 'circle-check', 'approve', inv, { state: 'pending' }),
    inv.sent
      ? iconButton('Sent, send again', 'mail-check', 'send', inv, { state: 'sent' })
      : iconButton('Send Invoice', 'send', 'send', inv,
        { state: 'unsent', disabled: !inv.approved, why: inv.approved ? '' : 'approve it first' }),
    iconButton('Post Payment', 'cash', 'pay', inv, { disabled: paid, why: paid ? 'paid in full' : '' }),
  ];
}

// Each load is numbered: a slow answer to an earlier one (the whole list, asked for at sign-in)
// must not replace the answer to a later one (the filter just chosen) when it arrives after it.
let loads = 0;

async function load() {
  const mine = ++loads;
  $('#error').style.display = 'none';
  const q = query();
  const cursor = state.cursors[state.page];
  if (cursor) q.set('cursor', cursor);
  const data = await api('GET', '/invoices?' + q);
  if (mine !== loads) return;
  const body = $('#invoices tbody');
  body.replaceChildren();
  state.items.clear();
  for (const inv of data.items) { state.items.set(inv.invoice_id, inv); body.appendChild(row(inv)); }
  if (!data.items.length) {
    const tr = document.createElement('tr');
    const td = cell('No invoices match.');
    td.colSpan = 10;
    tr.appendChild(td);
    body.appendChild(tr);
  }
  const totals = data.totals || { invoiced: '0', balance: '0' };
  const counts = data.counts || {};
  $('#total-invoiced').textContent = money(totals.invoiced);
  $('#total-balance').textContent = money(totals.balance);
  for (const k of ['generated', 'paid', 'partial', 'sent']) $('#count-' + k).textContent = counts[k] ?? 0;
  state.cursors[state.page + 1] = data.next_cursor || null;
  $('#next').disabled = !data.next_cursor;
  $('#prev').disabled = state.page === 0;
}

function restart() { state.cursors = [null]; state.page = 0; return load(); }

async function loadOrgs() {
  let cursor = null;
  do {
    const data = await api('GET', '/organizations?limit=500' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
    for (const o of data.items) {
      state.orgs.set(o.id, o);
      const opt = document.createElement('option');
      opt.value = o.id;
      opt.textContent = o.parent_id ? '  ↳ ' + o.name : o.name;
      $('#org').appendChild(opt);
    }
    cursor = data.next_cursor;
  } while (cursor);
  // An org user sees its own tree, whatever it asks for (the API confines it): the picker is
  // preset to its organization and locked, rather than offering choices that change nothing.
  if (!isStaff() && state.me && state.me.org_id) {
    const own = state.orgs.get(state.me.org_id);
    const subs = [...state.orgs.values()].some((o) => o.id !== state.me.org_id);
    const opt = document.createElement('option');
    opt.value = state.me.org_id;
    opt.textContent = (own ? own.name : state.me.org_id) + (subs ? ' and its sub-organizations' : '');
    $('#org').replaceChildren(opt);
    $('#org').disabled = true;
    state.org = state.me.org_id;
  }
}

async function download(path, fallbackName) {
  const r = await api('GET', path, { raw: true });
  const disposition = r.headers.get('Content-Disposition') || '';
  const name = (disposition.match(/filename="([^"]+)"/) || [])[1] || fallbackName;
  const url = URL.createObjectURL(await r.blob());
  const a = document.createElement('a');
  // Not attached to the page: an open modal dialog makes the rest of the page inert, and an
  // inert link would not start the download.
  a.href = url; a.download = name; a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function open(dialog) {
  if ($('.err', dialog)) $('.err', dialog).textContent = '';
  if (!dialog.open) dialog.showModal();
}

async function showDocument(path, title) {
  const r = await api('GET', path, { raw: true });
  $('#doc-title').textContent = title;
  $('#doc-frame').srcdoc = await r.text();
  open($('#dlg-doc'));
}

function taxNote(d) {
  if (d.tax_exempt_reason) return 'exempt: ' + d.tax_exempt_reason;
  return d.tax_rate ? d.tax_rate + ' %' : 'no tax rate';
}

const iconHtml = (name) => `<svg class="ico" aria-hidden="true" focusable="false"><use href="#i-${name}"></use></svg>`;

function figure(label, id, value, note = '') {
  return `<dt>${esc(label)}</dt><dd id="${id}">${esc(value)}${note ? ' <span class="hint">' + esc(note) + '</span>' : ''}</dd>`;
}

function creditNoteRow(n) {
  const ref = `data-credit-note="${esc(n.id)}" href="#"`;
  return `<tr data-credit-note="${esc(n.id)}"><td><a data-action="creditView" ${ref} title="View credit note">${esc(n.id)}</a></td>` +
    `<td>${esc(n.issued_on)}</td><td>${esc(n.reason)}</td><td class="num">${money(n.net)}</td>` +
    `<td class="num">${money(n.tax)}</td><td class="num">${money(n.amount)}</td><td>${esc(n.issued_by || '')}</td>` +
    `<td><a data-action="creditPdf" ${ref} aria-label="Download credit note ${esc(n.id)} PDF">PDF</a> · ` +
    `<a data-action="creditUbl" ${ref} aria-label="Download credit note ${esc(n.id)} UBL (XML)">UBL (XML)</a></td></tr>`;
}

async function renderDetails(id) {
  let d;
  try {
    d = await api('GET', '/invoices/' + enc(id));
  } catch (e) {
    // Another organization's invoice is a 404 to an org user, as one that does not exist.
    if (e instanceof ApiError && e.status === 404) throw new ApiError(`Invoice ${id} not found.`, 404);
    throw e;
  }
  $('#dlg-detail .err').textContent = '';
  $('#detail-title').textContent = `${d.invoice_id} · ${d.org_name} · ${d.status}`;
  const lines = d.lines.map((l) => `<tr><td>${esc(l.type)}</td><td>${esc(l.description)}</td>` +
    `<td>${esc(l.service_line_name || l.service_line_number || '')}</td><td class="num">${esc(l.usage_gb || '')}</td>` +
    `<td class="num">${money(l.amount)}</td></tr>`).join('');
  const pays = d.payments.map((p) => `<li>${esc(p.received_on)} ${esc(p.method)} ${esc(p.reference || '')} ${money(p.amount)}` +
    `${p.reversed ? ' (reversed: ' + esc(p.reversal_reason || '') + ')' : ''}</li>`).join('');
  const notes = d.credit_notes || [];
  const ref = `data-invoice="${esc(d.invoice_id)}"`;
  const owed = (cents(d.balance) ?? 0n) < 0n ? 'owed back to the customer' : '';
  $('#detail-body').innerHTML =
    `<p>Period ${esc(d.period || '–')} · issued ${esc(d.issued_on)} · payable ${esc(d.payable_on)} · revision ${d.revision}` +
    ` · ${d.approved ? 'approved' : 'not approved'} · ${d.sent ? 'sent to ' + esc((d.sent_to || []).join(', ')) : 'not sent'}</p>` +
    (d.last_send_error ? `<p style="color:#b00020">Last send failed: ${esc(d.last_send_error)}</p>` : '') +
    `<table><thead><tr><th>Type</th><th>Description</th><th>Service line</th><th class="num">GB</th>` +
    `<th class="num">Amount</th></tr></thead><tbody>${lines}</tbody></table>` +
    `<dl class="figures">` +
    figure('Regular charges', 'detail-regular', money(d.regular_charges)) +
    figure('Additional charges', 'detail-additional', money(d.additional_charges)) +
    figure('Tax', 'detail-tax', money(d.tax), '(' + taxNote(d) + ')') +
    figure('Amount', 'detail-amount', money(d.amount)) +
    figure('Payments', 'detail-payments', money(d.payments_total)) +
    figure('Credited', 'detail-credited', money(d.credited)) +
    figure('Balance', 'detail-balance', money(d.balance), owed) + `</dl>` +
    (pays ? `<ul>${pays}</ul>` : '') +
    (notes.length ? `<h3>Credit notes</h3><table id="detail-credit-notes"><thead><tr><th>Credit note</th>` +
      `<th>Issued on</th><th>Reason</th><th class="num">Net</th><th class="num">Tax</th><th class="num">Amount</th>` +
      `<th>Issued by</th><th>Download</th></tr></thead><tbody>${notes.map(creditNoteRow).join('')}</tbody></table>` : '') +
    `<div class="doc-links"><button class="act" data-action="view" ${ref}>${iconHtml('eye')}<span>View invoice</span></button>` +
    `<button class="act" data-action="download" ${ref}>${iconHtml('download')}<span>Download PDF</span></button>` +
    `<button class="act" data-action="ubl" ${ref}>${iconHtml('download')}<span>Download UBL (XML)</span></button>` +
    (canCredit() && d.allowed_actions.includes('credit_note')
      ? `<button class="act primary" data-action="credit" ${ref}>${iconHtml('receipt-refund')}<span>Issue credit note</span></button>` : '') + `</div>`;
}

// What each billed line of a final invoice stands at after its credit notes, matched as the API
// matches them (type, description, service line, plan or sub-pool); USAGE_INFO bills nothing.
const KEY_FIELDS = ['type', 'description', 'service_line_number', 'service_line_name', 'plan_name', 'sub_pool_name'];
const keyOf = (l) => JSON.stringify(KEY_FIELDS.map((k) => l[k] ?? null));

function standing(lines, credited) {
  const rows = new Map();
  for (const l of lines) {
    if (l.type === 'USAGE_INFO') continue;
    const k = keyOf(l);
    const r = rows.get(k);
    if (r) { r.cents += cents(l.amount); r.merged = true; } else rows.set(k, { line: l, cents: cents(l.amount), merged: false });
  }
  for (const l of credited) { const r = rows.get(keyOf(l)); if (r) r.cents -= cents(l.amount); }
  return [...rows.values()];
}

// The line as the edit sends it: unchanged lines as they are, a lowered one as one unit at its amount.
function creditedLine(r, amount) {
  const out = {};
  for (const k of KEY_FIELDS) if (r.line[k] !== null && r.line[k] !== undefined) out[k] = r.line[k];
  out.amount = fromCents(amount);
  if (!r.merged && amount === cents(r.line.amount)) {
    for (const k of ['quantity', 'unit_price', 'usage_gb']) if (r.line[k] !== null && r.line[k] !== undefined) out[k] = r.line[k];
  } else {
    out.quantity = '1';
    if (amount >= 0n) out.unit_price = fromCents(amount);
  }
  return out;
}

async function openCredit(d) {
  const id = d.invoice_id;
  if (!canCredit()) throw new ApiError('Only the finance team or an admin may issue a credit note.');
  if (!d.allowed_actions.includes('credit_note')) throw new ApiError(`${id} has nothing left to credit.`);
  const notes = await Promise.all((d.credit_notes || []).map((n) => api('GET', '/credit-notes/' + enc(n.id))));
  const rows = standing(d.lines, notes.flatMap((n) => n.lines || []));
  const form = $('#credit-form');
  form.reset();
  form.dataset.invoice = id;
  // USAGE_INFO lines bill nothing: they go back unchanged, so the edit is the complete set.
  const info = d.lines.filter((l) => l.type === 'USAGE_INFO').map((l) => creditedLine({ line: l, merged: false }, 0n));
  state.credit = { rows, info };
  const body = $('tbody', form);
  body.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement('tr');
    tr.append(cell(r.line.type), cell(r.line.description),
      cell(r.line.service_line_name || r.line.service_line_number || r.line.plan_name || r.line.sub_pool_name || ''),
      cell(money(fromCents(r.cents)), 'num'));
    const td = cell('', 'num');
    const input = document.createElement('input');
    input.name = 'amount';
    input.inputMode = 'decimal';
    input.value = fromCents(r.cents);
    input.setAttribute('aria-label', 'New amount of ' + r.line.description);
    if (r.cents <= 0n) input.disabled = true;  // nothing left on it to credit
    td.appendChild(input);
    tr.appendChild(td);
    body.appendChild(tr);
  }
  $('#credit-title').textContent = `Issue credit note · ${id} · amount ${money(d.amount)} · credited ${money(d.credited)}`;
  creditPreview();
  open($('#dlg-credit'));
}

function creditPreview() {
  if (!state.credit) return;
  let net = 0n;
  $$('#credit-form tbody tr').forEach((tr, i) => {
    const typed = cents(tr.querySelector('[name=amount]').value);
    if (typed !== null) net += state.credit.rows[i].cents - typed;
  });
  $('#credit-net').textContent = money(fromCents(net));
}

// --- actions ---------------------------------------------------------------------------------
const actions = {
  async details(id) {
    await renderDetails(id);
    // The open invoice is in the address (#invoice=ID): it can be bookmarked or shared.
    history.replaceState(null, '', '#invoice=' + enc(id));
    $('#dlg-detail').dataset.invoice = id;
    open($('#dlg-detail'));
  },
  view: (id) => showDocument(`/invoices/${enc(id)}/document`, 'Invoice ' + id),
  download: (id) => download(`/invoices/${encodeURIComponent(id)}/pdf`, id + '.pdf'),
  ubl: (id) => download(`/invoices/${enc(id)}/ubl`, id + '.xml'),
  creditView: (id) => showDocument(`/credit-notes/${enc(id)}/document`, 'Credit note ' + id),
  creditPdf: (id) => download(`/credit-notes/${enc(id)}/pdf`, id + '.pdf'),
  creditUbl: (id) => download(`/credit-notes/${enc(id)}/ubl`, id + '.xml'),
  async credit(id) {
    await openCredit(await api('GET', '/invoices/' + enc(id)));
  },
  ipt: (id) => download(`/invoices/${encodeURIComponent(id)}/ipt?format=csv`, id + '-ipt.csv'),
  async approve(id) {
    await api('POST', `/invoices/${encodeURIComponent(id)}/approve`);
    notice(`${id} approved.`);
    await load();
  },
  send(id) {
    const inv = state.items.get(id);
    const org = state.orgs.get(inv.org_id);
    const box = $('#send-emails');
    box.replaceChildren();
    for (const email of (org ? org.customer_emails : [])) {
      const label = document.createElement('label');
      label.style.cssText = 'display:flex;gap:.4rem;align-items:center;font-size:.9rem';
      label.innerHTML = `<input type="checkbox" name="email" checked> <span></span>`;
      label.querySelector('input').value = email;
      label.querySelector('span').textContent = email;
      box.appendChild(label);
    }
    if (!box.children.length) box.textContent = 'This organization has no customer contacts.';
    $('#send-form').dataset.invoice = id;
    open($('#dlg-send'));
  },
  pay(id) {
    const form = $('#pay-form');
    form.reset();
    form.dataset.invoice = id;
    form.dataset.key = crypto.randomUUID();  // one key per dialog: a double click posts once
    form.received_on.value = new Date().toISOString().slice(0, 10);
    const inv = state.items.get(id);
    $('#pay-title').textContent = `Post Payment · ${id} · balance ${money(inv.balance)}`;
    open($('#dlg-pay'));
  },
  async edit(id) {
    const d = await api('GET', '/invoices/' + encodeURIComponent(id));
    // Its sending was requested since the table was loaded: final now, credited instead.
    if (d.allowed_actions.includes('credit_note')) { await openCredit(d); return; }
    const form = $('#edit-form');
    form.dataset.invoice = id;
    form.dataset.lines = JSON.stringify(d.lines);
    const body = $('tbody', form);
    body.replaceChildren();
    d.lines.forEach((l) => body.appendChild(lineRow(l)));
    form.reason.value = '';
    $('#edit-title').textContent = 'Edit Invoice ' + id;
    open($('#dlg-edit'));
  },
};

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const TYPES = ['REGULAR', 'OVERAGE', 'ADJUSTMENT', 'PRODUCT', 'USAGE_INFO'];

function lineRow(line) {
  const tr = document.createElement('tr');
  tr.dataset.line = JSON.stringify(line);
  tr.innerHTML = `<td><select name="type" aria-label="Type">${TYPES.map((t) => `<option>${t}</option>`).join('')}</select></td>` +
    `<td><input name="description" aria-label="Description"></td>` +
    `<td><input name="amount" inputmode="decimal" style="width:7rem" aria-label="Amount"></td>` +
    `<td><button type="button" class="act" data-remove title="Remove line" aria-label="Remove line">${iconHtml('x')}</button></td>`;
  tr.querySelector('[name=type]').value = line.type;
  tr.querySelector('[name=description]').value = line.description;
  tr.querySelector('[name=amount]').value = line.amount;
  return tr;
}

// --- wiring ----------------------------------------------------------------------------------
document.addEventListener('click', async (ev) => {
  const target = ev.target.closest('[data-action]');
  if (target && actions[target.dataset.action]) {
    if (target.tagName === 'A') ev.preventDefault();  // links for the keyboard; the action does it
    try {
      await actions[target.dataset.action](target.dataset.invoice || target.dataset.creditNote);
    } catch (e) {
      // From inside an open dialog the page's error box is hidden behind it: say it there.
      const box = target.closest('dialog') && $('.err', target.closest('dialog'));
      if (box) box.textContent = e instanceof ApiError ? e.message : String(e); else showError(e);
    }
  }
  if (ev.target.closest('[data-close]')) ev.target.closest('dialog').close();
  if (ev.target.closest('[data-remove]')) ev.target.closest('tr').remove();
});

$$('.tabs button').forEach((b) => b.addEventListener('click', guarded(async () => {
  $$('.tabs button').forEach((x) => x.setAttribute('aria-selected', String(x === b)));
  state.kind = b.dataset.kind;
  $('#view-proforma').disabled = state.kind !== 'subscription';
  if (state.view === 'proforma' && state.kind !== 'subscription') setView('');
  await restart();
})));

function setView(view) {
  state.view = view;
  $$('.views button').forEach((x) => x.setAttribute('aria-pressed', String(x.dataset.view === view)));
}
$$('.views button').forEach((b) => b.addEventListener('click', guarded(async () => { setView(b.dataset.view); await restart(); })));

$('#org').addEventListener('change', guarded(async (ev) => { state.org = ev.target.value; await restart(); }));
$('#toggle-filters').addEventListener('click', () => {
  const open = $('#filters').classList.toggle('open');
  $('#toggle-filters').setAttribute('aria-expanded', String(open));
});
$('#filters').addEventListener('submit', guarded(async (ev) => {
  ev.preventDefault();
  state.filters = Object.fromEntries(new FormData(ev.target).entries());
  await restart();
}));
$('#clear-filters').addEventListener('click', guarded(async () => { state.filters = {}; await restart(); }));
$('#next').addEventListener('click', guarded(async () => { state.page += 1; await load(); }));
$('#prev').addEventListener('click', guarded(async () => { state.page = Math.max(0, state.page - 1); await load(); }));
$('#export-csv').addEventListener('click', guarded(() => download('/invoices/report?' + query() + '&format=csv', 'invoice-report.csv')));
$('#export-xlsx').addEventListener('click', guarded(() => download('/invoices/report?' + query() + '&format=xlsx', 'invoice-report.xlsx')));
$('#regenerate').addEventListener('click', () => open($('#dlg-regen')));
$('#add-line').addEventListener('click', () => $('#edit-form tbody').appendChild(lineRow({ type: 'ADJUSTMENT', description: '', amount: '0.00' })));
$('#signout').addEventListener('click', () => { sessionStorage.removeItem('billport-token'); location.href = '/'; });

function dialogSubmit(formSel, handler) {
  $(formSel).addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (ev.submitter && ev.submitter.value === 'cancel') { ev.target.closest('dialog').close(); return; }
    const form = ev.target;
    const button = $('.primary', form);
    button.disabled = true;
    try {
      await handler(form);
      form.closest('dialog').close();
      await load();
    } catch (e) {
      $('.err', form).textContent = e instanceof ApiError ? e.message : String(e);
    } finally { button.disabled = false; }
  });
}

dialogSubmit('#send-form', async (form) => {
  const to = form.querySelector('input[name=to]:checked').value;
  const body = { to };
  if (to === 'customer') body.emails = $$('input[name=email]:checked', form).map((x) => x.value);
  const r = await api('POST', `/invoices/${encodeURIComponent(form.dataset.invoice)}/send`, { body });
  notice(`Sending ${form.dataset.invoice} to ${r.recipients.join(', ')}.`);
  setTimeout(guarded(load), 1500);
});

dialogSubmit('#pay-form', async (form) => {
  const data = Object.fromEntries(new FormData(form).entries());
  for (const k of ['reference', 'note']) if (!data[k]) delete data[k];
  const p = await api('POST', `/invoices/${encodeURIComponent(form.dataset.invoice)}/payments`,
    { body: data, headers: { 'Idempotency-Key': form.dataset.key } });
  notice(`Payment of ${money(p.amount)} posted on ${p.invoice_id}; balance ${money(p.balance_after)}.`);
  await new Promise((r) => setTimeout(r, 600));  // the invoice follows the posting's event
});

dialogSubmit('#edit-form', async (form) => {
  const lines = $$('tbody tr', form).map((tr) => {
    const original = JSON.parse(tr.dataset.line);
    const line = { type: tr.querySelector('[name=type]').value,
      description: tr.querySelector('[name=description]').value,
      amount: tr.querySelector('[name=amount]').value.trim() };
    for (const k of ['service_line_number', 'service_line_name', 'plan_name', 'sub_pool_name', 'usage_gb', 'unit_price', 'quantity'])
      if (original[k] !== null && original[k] !== undefined) line[k] = original[k];
    return line;
  });
  const r = await api('PATCH', `/invoices/${encodeURIComponent(form.dataset.invoice)}`,
    { body: { lines, reason: form.reason.value } });
  notice(`${r.invoice_id} is now revision ${r.revision}, amount ${money(r.amount)}.`);
});

$('#credit-form').addEventListener('input', creditPreview);

dialogSubmit('#credit-form', async (form) => {
  const id = form.dataset.invoice;
  const lines = $$('tbody tr', form).map((tr, i) => {
    const r = state.credit.rows[i];
    const typed = tr.querySelector('[name=amount]').value;
    const amount = cents(typed);
    if (amount === null) throw new ApiError(`${r.line.description}: "${typed.trim()}" is not an amount (e.g. 70.00).`);
    return creditedLine(r, amount);
  });
  lines.push(...state.credit.info);
  const r = await api('PATCH', `/invoices/${enc(id)}`, { body: { lines, reason: form.reason.value } });
  const note = (r.credit_notes || []).at(-1);
  notice(note ? `Credit note ${note.id} of ${money(note.amount)} issued on ${id}; balance ${money(r.balance)}.`
    : `${id}: credited ${money(r.credited)}; balance ${money(r.balance)}.`);
  if ($('#dlg-detail').open) await renderDetails(id);
});

dialogSubmit('#regen-form', async (form) => {
  const body = { period: form.period.value };
  if (state.org) body.org_id = state.org;
  const r = await api('POST', '/invoices/regenerate', { body });
  notice(`Regenerated ${r.regenerated.length}; skipped ${r.skipped.length}.`);
});

// #invoice=ID in the address opens that invoice, typed or followed; closing forgets it.
function invoiceInHash() {
  const m = /^#invoice=(.+)$/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}
const openFromHash = guarded(async () => {
  const id = invoiceInHash();
  if (id) await actions.details(id);
});
window.addEventListener('hashchange', openFromHash);
$('#dlg-detail').addEventListener('close', () => {
  // The close event comes a task later: by then the address may already name another invoice,
  // which must stay for its hashchange to open it.
  if (invoiceInHash() === $('#dlg-detail').dataset.invoice) {
    history.replaceState(null, '', location.pathname + location.search);
  }
});

(async () => {
  try {
    state.me = await api('GET', '/whoami');
    const staff = isStaff();
    $$('[data-staff]').forEach((el) => { el.hidden = !staff; });
    await loadOrgs();
    const org = state.orgs.get(state.me.org_id);
    $('#who').textContent = `${state.me.name} · ${state.me.role}` + (org ? ' · ' + org.name : '');
    await load();
    await openFromHash();
  } catch (e) { showError(e); }
})();
