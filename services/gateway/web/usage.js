// The Usage page: an organization's sub-pools and lines on plans (its sub-organizations
// included) for a period, each against its allowance with the month-end forecast; the selected
// one's daily and cumulative usage drawn by Chart.js (vendored, served by the gateway) and given
// as a table; a pool's members; the period's alerts. Plain DOM and fetch over the public API,
// with the token the sign-in page kept for the browser session.
'use strict';

const token = sessionStorage.getItem('billport-token');
if (!token) location.href = '/';

const $ = (sel, root = document) => root.querySelector(sel);
const enc = encodeURIComponent;
const DEFAULT_THRESHOLDS = [80, 100];
const state = { me: null, orgs: new Map(), org: '', period: '', asOf: '', subjects: [], selected: '',
                chart: null, generation: 0 };

class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

async function api(path) {
  const r = await fetch('/api/v1' + path, { headers: { Authorization: 'Bearer ' + token } });
  if (r.status === 401) { sessionStorage.removeItem('billport-token'); location.href = '/'; }
  if (!r.ok) {
    let message = r.status + ' ' + r.statusText;
    try {
      const e = (await r.json()).error;
      message = e.message + (e.fields ? '\n' + Object.entries(e.fields).map(([k, v]) => `${k}: ${v}`).join('\n') : '');
    } catch (_) { /* not JSON */ }
    throw new ApiError(message, r.status);
  }
  return r.json();
}

function showError(err) {
  const box = $('#error');
  box.textContent = err instanceof ApiError ? err.message : 'Something went wrong: ' + err;
  box.style.display = 'block';
}

// --- GB as exact decimals --------------------------------------------------------------------
// The API's GB are decimal strings with up to 9 decimals (numeric(20,9)); the page sums them
// (cumulative usage, shares) as BigInt billionths, so the text it shows is exact, as the API's.
const SCALE = 9;
const UNIT = 10n ** BigInt(SCALE);

function nano(s) {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(String(s ?? '0').trim());
  if (!m) return 0n;
  const v = BigInt(m[2]) * UNIT + BigInt((m[3] || '').slice(0, SCALE).padEnd(SCALE, '0'));
  return m[1] ? -v : v;
}

// As the API writes GB: every decimal kept, no padding zeros ("72.345", "70", "0").
function gbText(n) {
  const neg = n < 0n;
  const a = neg ? -n : n;
  const frac = String(a % UNIT).padStart(SCALE, '0').replace(/0+$/, '');
  return (neg ? '-' : '') + String(a / UNIT) + (frac ? '.' + frac : '');
}

// Digits grouped for reading; the figure itself is the API's.
function grouped(text) {
  if (text === null || text === undefined) return '–';
  const [whole, frac] = String(text).split('.');
  return whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (frac ? '.' + frac : '');
}

// n / d as a percent with 2 decimals, half-up (d > 0).
function percentText(n, d) {
  const hundredths = (n * 10000n * 2n + d) / (2n * d);
  return String(hundredths / 100n) + '.' + String(hundredths % 100n).padStart(2, '0');
}

// --- the period ------------------------------------------------------------------------------
const thisMonth = () => new Date().toISOString().slice(0, 7);  // UTC, as the API's default day
const daysIn = (period) => { const [y, m] = period.split('-').map(Number); return new Date(Date.UTC(y, m, 0)).getUTCDate(); };
const dayOf = (period, n) => `${period}-${String(n).padStart(2, '0')}`;
function monthName(period) {
  const [y, m] = period.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, 1)).toLocaleString('en', { month: 'long', year: 'numeric', timeZone: 'UTC' });
}

// --- what to show -----------------------------------------------------------------------------
async function everything(path) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api(path + sep + 'limit=1000' + (cursor ? '&cursor=' + enc(cursor) : ''));
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

// A few requests at a time: an organization with many lines on plans asks for each one's
// figures without flooding the gateway.
async function mapFew(items, fn, width = 6) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => { while (next < items.length) { const i = next++; out[i] = await fn(items[i]); } };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return out;
}

const overlaps = (row, first, last) => row.active_from <= last && (!row.active_to || row.active_to >= first);

// The lines on a plan some day of the period. The list has one row per assignment of a line:
// one subject per number, named and placed by its latest such assignment, its days shown from
// the first one on a plan (the days before count nowhere for it: they are not drawn as zeros).
function planLines(rows, period) {
  const first = dayOf(period, 1);
  const last = dayOf(period, daysIn(period));
  const latest = new Map();
  const start = new Map();
  for (const r of rows) {
    if (!r.plan_id || !overlaps(r, first, last)) continue;
    const n = r.active_from > first ? Number(r.active_from.slice(8, 10)) : 1;
    const number = r.service_line_number;
    start.set(number, Math.min(start.get(number) ?? n, n));
    const seen = latest.get(number);
    if (!seen || seen.active_from < r.active_from) latest.set(number, r);
  }
  return [...latest.values()].map((r) => ({ ...r, start: start.get(r.service_line_number) }));
}

function figuresQuery() {
  const q = new URLSearchParams({ period: state.period });
  if (state.asOf) q.set('as_of', state.asOf);
  return q.toString();
}

async function loadSubjects() {
  const tree = enc(state.org);
  const [pools, lines] = await Promise.all([
    everything(`/sub-pools?org_id=${tree}`), everything(`/service-lines?org_id=${tree}`)]);
  const q = figuresQuery();
  const byName = (a, b) => a.name.localeCompare(b.name);
  const poolSubjects = await mapFew(pools.sort(byName), async (p) => ({
    key: 'pool:' + p.id, kind: 'pool', id: p.id, name: p.name, org_id: p.org_id, start: 1,
    usage: await api(`/sub-pools/${enc(p.id)}/usage?${q}`),
  }));
  const lineSubjects = await mapFew(planLines(lines, state.period).sort(byName), async (l) => ({
    key: 'line:' + l.service_line_number, kind: 'line', id: l.service_line_number, name: l.name,
    org_id: l.org_id, start: l.start, usage: await api(`/service-lines/${enc(l.service_line_number)}/usage-summary?${q}`),
  }));
  return [...poolSubjects, ...lineSubjects];
}

// --- levels: the organization's alert thresholds ---------------------------------------------
function thresholdsOf(orgId) {
  const t = (state.orgs.get(orgId) || {}).usage_alert_thresholds;
  return t && t.length ? [...t].sort((a, b) => a - b) : DEFAULT_THRESHOLDS;
}

// Reached as the alerts reach it: used >= threshold % of the allowance, exactly.
function level(usage, thresholds) {
  const used = nano(usage.used_gb);
  const allowance = nano(usage.allowance_gb);
  if (allowance <= 0n) return { cls: 'ok', text: 'no allowance' };
  const reached = thresholds.filter((t) => used * 100n >= BigInt(t) * allowance);
  if (!reached.length) return { cls: 'ok', text: `below ${thresholds[0]} %` };
  const top = reached[reached.length - 1];
  return { cls: top === thresholds[thresholds.length - 1] ? 'over' : 'warn', text: `${top} % reached` };
}

const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v; else if (k === 'text') e.textContent = v; else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
};
const num = (text) => el('td', { class: 'num', text });

function share(part, whole) {
  return whole > 0n ? Math.min(100, Number(percentText(part, whole))) : 0;
}

// The bar: used (coloured and patterned by level), what the forecast adds (hatched), and a tick
// at each threshold within the allowance. Decorative: the same figures are in the row's text.
function gauge(s) {
  const u = s.usage;
  const allowance = nano(u.allowance_gb);
  const thresholds = thresholdsOf(s.org_id);
  const lv = level(u, thresholds);
  const track = el('div', { class: 'track', 'aria-hidden': 'true' });
  const used = share(nano(u.used_gb), allowance);
  const forecast = share(nano(u.forecast_gb), allowance);
  if (forecast > used) track.append(el('div', { class: 'ahead', style: `left:${used}%;width:${forecast - used}%` }));
  track.append(el('div', { class: 'fill ' + lv.cls, style: `width:${used}%` }));
  for (const t of thresholds) if (t < 100) track.append(el('div', { class: 'tick', style: `left:calc(${t}% - 1px)` }));
  return el('div', { class: 'gauge' }, track, el('span', { class: 'level ' + lv.cls, text: lv.text }));
}

function subjectRow(s) {
  const u = s.usage;
  const org = state.orgs.get(s.org_id);
  const pick = el('button', { type: 'button', class: 'pick', 'data-subject': s.key, 'aria-pressed': 'false', text: s.name });
  const kind = s.kind === 'pool' ? 'Sub-pool' : `Line ${s.id}`;
  const tr = el('tr', { 'data-subject': s.key },
    el('td', {}, pick, el('br'), el('span', { class: 'kind', text: kind })),
    el('td', { text: org ? org.name : s.org_id }),
    el('td', {}, gauge(s)),
    num(u.percent_used === null ? '–' : u.percent_used + ' %'),
    num(grouped(u.used_gb)), num(grouped(u.allowance_gb)), num(grouped(u.remaining_gb)), num(grouped(u.forecast_gb)));
  return tr;
}

function renderSubjects() {
  const body = $('#subjects tbody');
  body.replaceChildren(...state.subjects.map(subjectRow));
  if (!state.subjects.length) {
    body.append(el('tr', {}, el('td', { colspan: '8', class: 'empty',
      text: state.org ? 'No sub-pool and no line on a plan in this period.' : 'Choose an organization.' })));
  }
}

// --- the selected one ------------------------------------------------------------------------
// The series told apart by shape as well as colour (bars, a solid line with diamonds, a dotted
// line, a dashed line with triangles); each colour has 3:1 or more against white, as WCAG asks
// of graphics, and the legend names them.
const COLORS = { daily: '#0072b2', cumulative: '#c2410c', allowance: '#1d2733', forecast: '#7e3794' };

// The days the chart and the table run through: to the as-of day within the period (or its end
// when over), and never short of a day with usage.
function shownDays(u, period) {
  const total = daysIn(period);
  let end = 0;
  if (u.as_of >= dayOf(period, 1)) end = u.as_of > dayOf(period, total) ? total : Number(u.as_of.slice(8, 10));
  for (const d of u.days) end = Math.max(end, Number(d.date.slice(8, 10)));
  return end;
}

function series(u, period, start) {
  const total = daysIn(period);
  const end = shownDays(u, period);
  const byDate = new Map(u.days.map((d) => [d.date, nano(d.priority_gb)]));
  const rows = [];
  let cumulative = 0n;
  for (let n = start; n <= end; n += 1) {
    const daily = byDate.get(dayOf(period, n)) ?? 0n;
    cumulative += daily;
    rows.push({ n, date: dayOf(period, n), daily, cumulative });
  }
  return { total, start, end, rows };
}

function describe(s, u, period) {
  const what = s.kind === 'pool' ? `sub-pool ${s.name}` : `line ${s.name} (${s.id})`;
  const pct = u.percent_used === null ? '' : ` (${u.percent_used} %)`;
  return `Usage of ${what} in ${monthName(period)}: daily priority GB as bars (right axis) and ` +
    `cumulative GB as a solid line (left axis) against the allowance of ${u.allowance_gb} GB ` +
    `(a dotted horizontal line), with the forecast as a dashed line to ${u.forecast_gb} GB at month end. ` +
    `Used ${u.used_gb} GB${pct}, ${u.remaining_gb} GB remaining, as of ${u.as_of}. ` +
    'The same figures are in the table "Daily figures as a table" below.';
}

// The legend draws each series as it is drawn: a bar's box, the cumulative line's diamond, and
// the allowance's and the forecast's lines with their dashes.
const LEGEND_STYLES = ['rect', 'rectRot', 'line', 'line'];
function legendItems(chart) {
  // With point styles the default items take the first point's style, which has no dashes.
  return Chart.defaults.plugins.legend.labels.generateLabels(chart).map((item) => {
    const dataset = chart.data.datasets[item.datasetIndex];
    const line = LEGEND_STYLES[item.datasetIndex] === 'line';
    return { ...item, pointStyle: LEGEND_STYLES[item.datasetIndex],
             lineDash: line ? dataset.borderDash : [], lineWidth: line ? 2.5 : 1 };
  });
}

function drawChart(s, data) {
  const u = s.usage;
  const labels = Array.from({ length: data.total }, (_, i) => String(i + 1));
  const byDay = (f) => { const a = Array(data.total).fill(null); for (const r of data.rows) a[r.n - 1] = f(r); return a; };
  const allowance = Number(gbText(nano(u.allowance_gb)));
  const dailyValues = data.rows.map((r) => Number(gbText(r.daily)));
  const forecast = Array(data.total).fill(null);
  if (data.end < data.total) {  // the month is not over: project from the last day shown
    const lastRow = data.rows[data.rows.length - 1];
    if (lastRow) forecast[lastRow.n - 1] = Number(gbText(lastRow.cumulative));
    else forecast[Math.max(data.start, data.end) - 1] = 0;
    forecast[data.total - 1] = Number(gbText(nano(u.forecast_gb)));
  }
  const canvas = $('#chart');
  canvas.setAttribute('aria-label', describe(s, u, state.period));
  if (state.chart) state.chart.destroy();
  Chart.defaults.color = '#1d2733';
  Chart.defaults.font.family = 'system-ui, sans-serif';
  Chart.defaults.font.size = 13;
  state.chart = new Chart(canvas, {
    data: {
      labels,
      datasets: [
        { type: 'bar', label: 'Daily GB', yAxisID: 'daily', order: 4,
          data: byDay((r) => Number(gbText(r.daily))),
          backgroundColor: 'rgba(0, 114, 178, 0.45)', borderColor: COLORS.daily, borderWidth: 1 },
        { type: 'line', label: 'Cumulative GB', yAxisID: 'total', order: 1,
          data: byDay((r) => Number(gbText(r.cumulative))),
          borderColor: COLORS.cumulative, backgroundColor: COLORS.cumulative, borderWidth: 2.5,
          pointStyle: 'rectRot', pointRadius: 3.5 },
        { type: 'line', label: `Allowance ${u.allowance_gb} GB`, yAxisID: 'total', order: 3,
          data: labels.map(() => allowance), borderColor: COLORS.allowance, backgroundColor: COLORS.allowance,
          borderWidth: 2, borderDash: [2, 3], pointRadius: 0 },
        { type: 'line', label: `Forecast ${u.forecast_gb} GB`, yAxisID: 'total', order: 2,
          data: forecast, spanGaps: true, borderColor: COLORS.forecast, backgroundColor: COLORS.forecast,
          borderWidth: 2, borderDash: [8, 5], pointStyle: 'triangle', pointRadius: 5 },
      ],
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: 'index', intersect: false },
      plugins: {
        legend: { position: 'bottom', labels: { usePointStyle: true, pointStyleWidth: 34, boxHeight: 9, generateLabels: legendItems,
                                                sort: (a, b) => a.datasetIndex - b.datasetIndex } },
        tooltip: { callbacks: { title: (items) => dayOf(state.period, Number(items[0].label)) } },
      },
      scales: {
        x: { title: { display: true, text: 'Day of ' + monthName(state.period) }, grid: { display: false } },
        total: { position: 'left', beginAtZero: true, title: { display: true, text: 'Cumulative GB' } },
        // The bars kept to the lower part of the chart, under the cumulative line they add up to.
        daily: { position: 'right', beginAtZero: true, suggestedMax: Math.max(...dailyValues, 0) * 2.5 || 1,
                 title: { display: true, text: 'Daily GB' }, grid: { drawOnChartArea: false } },
      },
    },
  });
}

function daysTable(s, data) {
  const u = s.usage;
  $('#days-caption').textContent = `Priority GB of ${s.name} per day of ${monthName(state.period)}` +
    (data.rows.length ? ` from ${data.rows[0].date} to ${data.rows[data.rows.length - 1].date}` : '') +
    `; allowance ${u.allowance_gb} GB.`;
  $('#days tbody').replaceChildren(...data.rows.map((r) => el('tr', { 'data-date': r.date },
    el('th', { scope: 'row', text: r.date }), num(gbText(r.daily)), num(gbText(r.cumulative)), num(u.allowance_gb))));
  if (!data.rows.length) $('#days tbody').append(el('tr', {}, el('td', { colspan: '4', class: 'empty', text: 'No day of this period yet.' })));
  $('#days tfoot').replaceChildren(
    el('tr', { 'data-row': 'used' }, el('th', { scope: 'row', text: 'Used' }), num(''), num(u.used_gb), num(u.allowance_gb)),
    el('tr', { 'data-row': 'forecast' }, el('th', { scope: 'row', text: `Forecast, ${dayOf(state.period, data.total)}` }),
      num(''), num(u.forecast_gb), num(u.allowance_gb)));
}

function membersTable(s) {
  const box = $('#members-box');
  box.hidden = s.kind !== 'pool';
  if (box.hidden) return;
  const total = nano(s.usage.used_gb);
  const members = s.usage.members || [];
  $('#members-title').textContent = `Members of ${s.name} in ${monthName(state.period)}`;
  $('#members tbody').replaceChildren(...members.map((m) => el('tr', { 'data-line': m.service_line_number },
    el('td', { text: m.service_line_number }), el('td', { text: m.name }), num(m.used_gb),
    num(total > 0n ? percentText(nano(m.used_gb), total) + ' %' : '–'))));
  if (!members.length) $('#members tbody').append(el('tr', {}, el('td', { colspan: '4', class: 'empty', text: 'No member in this period.' })));
}

function select(key) {
  const s = state.subjects.find((x) => x.key === key);
  state.selected = s ? key : '';
  for (const tr of document.querySelectorAll('#subjects tbody tr')) {
    const on = tr.dataset.subject === state.selected;
    tr.classList.toggle('selected', on);
    const b = tr.querySelector('button.pick');
    if (b) b.setAttribute('aria-pressed', String(on));
  }
  remember();
  $('#detail').hidden = !s;
  if (!s) { if (state.chart) { state.chart.destroy(); state.chart = null; } return; }
  const u = s.usage;
  const kind = s.kind === 'pool' ? 'Sub-pool' : `Line ${s.id}`;
  $('#detail-title').textContent = `${kind} · ${s.name} · ${monthName(state.period)}`;
  $('#d-used').textContent = grouped(u.used_gb) + ' GB';
  $('#d-allowance').textContent = grouped(u.allowance_gb) + ' GB';
  $('#d-remaining').textContent = grouped(u.remaining_gb) + ' GB';
  $('#d-percent').textContent = u.percent_used === null ? '–' : u.percent_used + ' %';
  $('#d-forecast').textContent = grouped(u.forecast_gb) + ' GB';
  const data = series(u, state.period, s.start);
  drawChart(s, data);
  daysTable(s, data);
  membersTable(s);
}

// --- alerts ----------------------------------------------------------------------------------
const SUBJECTS = { sub_pool: 'Sub-pool', pool: 'Sub-pool', service_line: 'Line', line: 'Line' };

async function loadAlerts() {
  const page = await api(`/alerts?org_id=${enc(state.org)}&period=${enc(state.period)}&limit=100`);
  const body = $('#alerts tbody');
  body.replaceChildren(...page.items.map((a) => el('tr', { 'data-alert': a.id },
    el('td', { text: a.crossed_at.replace('T', ' ').replace(/\.\d+/, '').replace('Z', '') }),
    el('td', { text: `${SUBJECTS[a.subject] || a.subject} ${a.subject_name || a.subject_id}` }),
    el('td', { text: a.org_name }), num(a.threshold + ' %'), num(a.used_gb), num(a.allowance_gb), num(a.forecast_gb),
    el('td', { text: a.recipients.length ? a.recipients.join(', ') : 'no customer contact' }))));
  if (!page.items.length) body.append(el('tr', {}, el('td', { colspan: '8', class: 'empty', text: 'No alert in this period.' })));
  if (page.next_cursor) body.append(el('tr', {}, el('td', { colspan: '8', class: 'empty', text: 'The newest 100 alerts are shown.' })));
}

// --- loading ---------------------------------------------------------------------------------
function remember() {
  const q = new URLSearchParams();
  if (state.org && isStaff()) q.set('org', state.org);
  q.set('period', state.period);
  if (state.asOf) q.set('as_of', state.asOf);
  if (state.selected) q.set('subject', state.selected);
  history.replaceState(null, '', location.pathname + '?' + q);
}

async function load() {
  const generation = ++state.generation;  // a later choice wins over a load still running
  $('#error').style.display = 'none';
  const busy = $('#subjects');
  busy.setAttribute('aria-busy', 'true');
  $('#status').textContent = state.org ? 'Loading…' : '';
  try {
    const [subjects] = state.org ? await Promise.all([loadSubjects(), loadAlerts()]) : [[]];
    if (generation !== state.generation) return;
    if (!state.org) $('#alerts tbody').replaceChildren();
    state.subjects = subjects;
    renderSubjects();
    const keep = subjects.some((s) => s.key === state.selected) ? state.selected : (subjects[0] || {}).key;
    select(keep || '');
    const pools = subjects.filter((s) => s.kind === 'pool').length;
    const org = state.orgs.get(state.org);
    $('#status').textContent = state.org
      ? `${pools} sub-pool${pools === 1 ? '' : 's'} and ${subjects.length - pools} line${subjects.length - pools === 1 ? '' : 's'} on plans` +
        ` of ${org ? org.name : state.org} and its sub-organizations in ${monthName(state.period)}` +
        `; forecasts as of ${subjects[0] ? subjects[0].usage.as_of : state.asOf || 'today'}.`
      : 'Choose an organization to see its sub-pools and lines.';
  } catch (e) {
    if (generation === state.generation) { $('#status').textContent = ''; showError(e); }
  } finally {
    if (generation === state.generation) busy.setAttribute('aria-busy', 'false');
  }
}

const isStaff = () => !!state.me && ['admin', 'finance'].includes(state.me.role);

async function loadOrgs() {
  let cursor = null;
  const picker = $('#org');
  do {
    const data = await api('/organizations?limit=500' + (cursor ? '&cursor=' + enc(cursor) : ''));
    for (const o of data.items) {
      state.orgs.set(o.id, o);
      picker.append(el('option', { value: o.id, text: o.parent_id ? '  ↳ ' + o.name : o.name }));
    }
    cursor = data.next_cursor;
  } while (cursor);
  // An org user sees its own tree, whatever it asks for: the picker is preset and locked.
  if (!isStaff() && state.me && state.me.org_id) {
    const own = state.orgs.get(state.me.org_id);
    const subs = [...state.orgs.values()].some((o) => o.id !== state.me.org_id);
    picker.replaceChildren(el('option', { value: state.me.org_id,
      text: (own ? own.name : state.me.org_id) + (subs ? ' and its sub-organizations' : '') }));
    picker.disabled = true;
    state.org = state.me.org_id;
  }
}

const valid = { period: (v) => /^\d{4}-(0[1-9]|1[0-2])$/.test(v), asOf: (v) => /^\d{4}-\d{2}-\d{2}$/.test(v) };

$('#org').addEventListener('change', (ev) => { state.org = ev.target.value; state.selected = ''; load(); });
$('#period').addEventListener('change', (ev) => {
  if (!valid.period(ev.target.value)) return;
  state.period = ev.target.value;
  load();
});
$('#as-of').addEventListener('change', (ev) => {
  const v = ev.target.value;
  if (v && !valid.asOf(v)) return;
  state.asOf = v;
  load();
});
$('#controls').addEventListener('submit', (ev) => ev.preventDefault());
$('#subjects').addEventListener('click', (ev) => {
  const b = ev.target.closest('button.pick');
  if (b) select(b.dataset.subject);
});
$('#signout').addEventListener('click', () => { sessionStorage.removeItem('billport-token'); location.href = '/'; });

(async () => {
  try {
    const asked = new URLSearchParams(location.search);
    state.period = valid.period(asked.get('period') || '') ? asked.get('period') : thisMonth();
    state.asOf = valid.asOf(asked.get('as_of') || '') ? asked.get('as_of') : '';
    state.selected = asked.get('subject') || '';
    $('#period').value = state.period;
    $('#as-of').value = state.asOf;
    state.me = await api('/whoami');
    await loadOrgs();
    if (isStaff() && state.orgs.has(asked.get('org'))) state.org = asked.get('org');
    $('#org').value = state.org;
    const org = state.orgs.get(state.me.org_id);
    $('#who').textContent = `${state.me.name} · ${state.me.role}` + (org ? ' · ' + org.name : '');
    await load();
  } catch (e) { showError(e); }
})();
