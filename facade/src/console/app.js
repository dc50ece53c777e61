// unidm's web console: plain JavaScript over the HTTP API (/api/v1), no build step.
// Pages are hash routes: #/fleet, #/device/<id>, #/operations. The API token, when the server
// wants one, is asked once and kept in sessionStorage.
'use strict';

const API = '/api/v1';
const view = document.getElementById('view');
const PAGE = 50;

function token() { return sessionStorage.getItem('unidm-token') || ''; }

async function api(path, options = {}) {
  const headers = Object.assign({ 'Accept': 'application/json' }, options.headers || {});
  if (token()) headers['Authorization'] = 'Bearer ' + token();
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(API + path, Object.assign({}, options, { headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) }));
  if (r.status === 401) { askToken(); throw problem('Unauthorized', 'enter an API token above'); }
  const body = r.headers.get('content-type')?.includes('json') ? await r.json() : await r.text();
  if (!r.ok) throw problem(body.title || r.statusText, body.detail || String(body));
  return body;
}

function problem(title, detail) { const e = new Error(detail); e.title = title; return e; }

function askToken() {
  const form = document.getElementById('token-form');
  form.hidden = false;
  form.onsubmit = (e) => { e.preventDefault(); sessionStorage.setItem('unidm-token', document.getElementById('token').value); form.hidden = true; route(); };
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children.flat()) e.append(c instanceof Node ? c : document.createTextNode(c ?? ''));
  return e;
}

function showProblem(e) {
  view.replaceChildren(el('div', { class: 'problem', role: 'alert' }, el('strong', {}, e.title || 'Error'), ': ', e.message));
}

// ---- fleet ------------------------------------------------------------------------------------

const fleet = { offset: 0, protocol: '', online: '' };

async function counts() {
  const out = [];
  for (const p of ['lwm2m', 'tr069', 'omadm']) {
    const page = await api(`/devices?protocol=${p}&limit=1`);
    const online = await api(`/devices?protocol=${p}&online=true&limit=1`);
    out.push(el('span', { 'data-protocol': p }, `${p} ${page.total} (${online.total} online)`));
  }
  return out;
}

function presence(d) {
  const state = d.presence?.state || 'offline';
  return el('span', { class: state }, state);
}

async function fleetPage() {
  const query = new URLSearchParams({ offset: fleet.offset, limit: PAGE });
  if (fleet.protocol) query.set('protocol', fleet.protocol);
  if (fleet.online) query.set('online', fleet.online);
  const page = await api('/devices?' + query);
  const protocol = el('select', { 'aria-label': 'protocol', onchange: (e) => { fleet.protocol = e.target.value; fleet.offset = 0; route(); } },
    ['', 'lwm2m', 'tr069', 'omadm'].map((p) => { const o = el('option', { value: p }, p || 'any protocol'); if (p === fleet.protocol) o.selected = true; return o; }));
  const online = el('select', { 'aria-label': 'presence', onchange: (e) => { fleet.online = e.target.value; fleet.offset = 0; route(); } },
    [['', 'any presence'], ['true', 'online'], ['false', 'not online']].map(([v, t]) => { const o = el('option', { value: v }, t); if (v === fleet.online) o.selected = true; return o; }));
  const search = el('form', { onsubmit: (e) => { e.preventDefault(); location.hash = '#/device/' + encodeURIComponent(e.target.elements.id.value.trim()); } },
    el('input', { name: 'id', placeholder: 'device id', 'aria-label': 'device id' }), el('button', {}, 'Open'));
  const rows = page.items.map((d) => el('tr', { 'data-device': d.id },
    el('td', {}, el('a', { href: '#/device/' + encodeURIComponent(d.id) }, d.id)),
    el('td', {}, d.protocol),
    el('td', {}, presence(d)),
    el('td', {}, [d.identity?.manufacturer, d.identity?.model].filter(Boolean).join(' ')),
    el('td', {}, d.snapshot?.firmware?.version || d.identity?.fwVersion || ''),
    el('td', {}, d.presence?.lastSeen || ''),
    el('td', {}, Object.entries(d.labels || {}).map(([k, v]) => `${k}=${v}`).join(', '))));
  const previous = el('button', { onclick: () => { fleet.offset = Math.max(0, fleet.offset - PAGE); route(); } }, '‹ previous');
  const next = el('button', { onclick: () => { fleet.offset += PAGE; route(); } }, 'next ›');
  previous.disabled = fleet.offset === 0;
  next.disabled = fleet.offset + PAGE >= page.total;
  const pager = el('p', { id: 'pager' }, previous, ` ${page.total ? fleet.offset + 1 : 0}–${fleet.offset + page.items.length} of ${page.total} `, next);
  view.replaceChildren(
    el('h1', {}, 'Fleet'),
    el('div', { class: 'counts', id: 'counts' }, await counts()),
    el('div', { class: 'filters' }, protocol, online, search),
    el('table', { id: 'devices' }, el('tr', {}, ['Device', 'Protocol', 'Presence', 'Identity', 'Firmware', 'Last seen', 'Labels'].map((h) => el('th', {}, h))), rows),
    pager);
}

// ---- device -----------------------------------------------------------------------------------

async function act(id, what, body) {
  if (!confirm(`${what} ${id}?`)) return;
  try {
    const op = await api(`/devices/${encodeURIComponent(id)}/${what}`, { method: 'POST', body: body || {} });
    document.getElementById('acted').replaceChildren(`operation ${op.id}: ${op.state}`);
    setTimeout(route, 1000);
  } catch (e) { document.getElementById('acted').replaceChildren(el('span', { class: 'problem' }, `${e.title}: ${e.message}`)); }
}

async function devicePage(id) {
  const d = await api('/devices/' + encodeURIComponent(id));
  const ops = await api(`/devices/${encodeURIComponent(id)}/operations?limit=20`);
  const i = d.identity || {};
  view.replaceChildren(
    el('h1', {}, d.id),
    el('p', {}, presence(d), ` · ${d.protocol} · last seen ${d.presence?.lastSeen || 'never'}`),
    el('table', { id: 'identity' }, Object.entries({ Manufacturer: i.manufacturer, Model: i.model, Serial: i.serial, Firmware: i.fwVersion, Software: i.swVersion, Hardware: i.hwVersion })
      .filter(([, v]) => v).map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', {}, v)))),
    el('p', {},
      el('button', { onclick: () => act(d.id, 'refresh') }, 'Refresh'), ' ',
      el('button', { onclick: () => act(d.id, 'reboot') }, 'Reboot'), ' ',
      el('button', { onclick: () => act(d.id, 'factory-reset') }, 'Factory reset'), ' ',
      el('span', { id: 'acted' })),
    el('h2', {}, 'Topology'),
    el('p', {}, d.topology?.parent ? ['parent ', el('a', { href: '#/device/' + encodeURIComponent(d.topology.parent) }, d.topology.parent)] : 'no parent',
      (d.topology?.children || []).length ? [' · children: ', ...d.topology.children.map((c) => el('a', { href: '#/device/' + encodeURIComponent(c) }, c + ' '))] : ''),
    el('h2', {}, 'Operations'),
    el('table', { id: 'operations' }, ops.items.map((o) => el('tr', {}, el('td', {}, String(o.id)), el('td', {}, o.action.kind), el('td', {}, o.state), el('td', {}, o.error?.message || o.waitingFor || '')))),
    el('h2', {}, 'Snapshot'),
    el('pre', { id: 'snapshot' }, JSON.stringify(d.snapshot, null, 2)));
}

// ---- groups and campaigns ---------------------------------------------------------------------

async function groupsPage() {
  const groups = await api('/groups');
  const rows = [];
  for (const g of groups) {
    const members = await api(`/groups/${encodeURIComponent(g.id)}/members`);
    const campaigns = await api(`/groups/${encodeURIComponent(g.id)}/operations`);
    rows.push(el('tr', { 'data-group': g.id },
      el('td', {}, g.id), el('td', {}, g.description || ''), el('td', {}, `${members.length} members`),
      el('td', {}, campaigns.map((c) => el('a', { href: `#/campaign/${c.id}` }, `#${c.id} ${c.action.kind} `)))));
  }
  const start = el('form', { id: 'start-campaign', onsubmit: async (e) => {
    e.preventDefault();
    const f = e.target.elements;
    if (!confirm(`Firmware ${f.uri.value} on every member of ${f.group.value}?`)) return;
    try {
      const body = { action: { kind: 'firmware', uri: f.uri.value }, concurrency: Number(f.concurrency.value) || 100 };
      const op = await api(`/groups/${encodeURIComponent(f.group.value)}/operations`, { method: 'POST', body });
      location.hash = `#/campaign/${op.id}`;
    } catch (err) { document.getElementById('start-problem').replaceChildren(`${err.title}: ${err.message}`); }
  } },
    el('select', { name: 'group', 'aria-label': 'group' }, groups.map((g) => el('option', { value: g.id }, g.id))),
    el('input', { name: 'uri', placeholder: 'firmware URL', 'aria-label': 'firmware URL', required: '' }),
    el('input', { name: 'concurrency', type: 'number', min: '1', value: '100', 'aria-label': 'concurrency' }),
    el('button', {}, 'Start firmware campaign'), el('span', { id: 'start-problem', class: 'muted' }));
  view.replaceChildren(el('h1', {}, 'Groups'),
    el('table', { id: 'groups' }, el('tr', {}, ['Group', 'Description', 'Members', 'Campaigns'].map((h) => el('th', {}, h))), rows),
    el('h2', {}, 'Start a campaign'), groups.length ? start : el('p', { class: 'muted' }, 'no group yet'));
}

const STATES = ['pending', 'dispatched', 'waiting', 'running', 'succeeded', 'failed', 'cancelled', 'expired'];
const COLORS = { succeeded: '#1a7f37', failed: '#cf222e', running: '#0969da', waiting: '#9a6700', expired: '#6b7280', cancelled: '#6b7280' };

async function campaignPage(id) {
  const v = await api(`/group-operations/${id}`);
  const a = v.aggregate;
  const bar = el('div', { id: 'bar', style: 'display:flex;height:1.2em;background:#e5e7eb;margin:.5em 0' },
    STATES.filter((s) => a.counts[s]).map((s) => el('div', { title: `${s} ${a.counts[s]}`, style: `flex:${a.counts[s]};background:${COLORS[s] || '#9ca3af'}` })));
  const failures = a.results.filter((r) => r.state === 'failed');
  const cancel = el('button', { onclick: async () => {
    if (!confirm(`Cancel campaign ${id}?`)) return;
    await api(`/group-operations/${id}/cancel`, { method: 'POST', body: {} });
    route();
  } }, 'Cancel');
  cancel.disabled = a.done;
  view.replaceChildren(el('h1', {}, `Campaign ${id}: ${v.action.kind} on ${v.group}`),
    el('p', { id: 'campaign-counts' }, `${a.total} devices: ` + STATES.filter((s) => a.counts[s]).map((s) => `${a.counts[s]} ${s}`).join(', '), a.done ? ' — done' : ''),
    bar, cancel,
    el('h2', {}, `Failures (${failures.length})`),
    el('table', { id: 'failures' }, failures.map((r) => el('tr', {}, el('td', {}, el('a', { href: '#/device/' + encodeURIComponent(r.device) }, r.device)), el('td', {}, r.error?.message || '')))),
    el('h2', {}, 'Devices'),
    el('table', { id: 'results' }, a.results.map((r) => el('tr', {}, el('td', {}, r.device), el('td', {}, r.state)))));
}

// ---- operations -------------------------------------------------------------------------------

async function operationsPage() {
  const ops = await api('/operations?limit=100');
  view.replaceChildren(el('h1', {}, 'Operations'),
    el('table', { id: 'all-operations' }, el('tr', {}, ['Id', 'Device', 'Action', 'State', ''].map((h) => el('th', {}, h))),
      ops.items.map((o) => el('tr', {}, el('td', {}, String(o.id)), el('td', {}, el('a', { href: '#/device/' + encodeURIComponent(o.device) }, o.device)),
        el('td', {}, o.action.kind), el('td', {}, o.state), el('td', {}, o.error?.message || o.waitingFor || '')))));
}

// ---- live updates: the event stream, read with fetch so that the token header goes along ----

async function live() {
  const status = document.getElementById('live');
  for (;;) {
    try {
      const headers = token() ? { 'Authorization': 'Bearer ' + token() } : {};
      const r = await fetch(API + '/events', { headers });
      if (!r.ok) throw new Error(r.status);
      status.textContent = 'live';
      const reader = r.body.getReader();
      const text = new TextDecoder();
      let buffer = '';
      let pending = false;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += text.decode(value, { stream: true });
        const events = buffer.split('\n\n');
        buffer = events.pop();
        if (events.some((e) => /event: (device|operation|groupOperation|topology)/.test(e)) && !pending) {
          // Re-render at most twice a second, whatever the event rate.
          pending = true;
          // Not while the user is typing: a re-render would wipe the form.
          setTimeout(() => {
            pending = false;
            const typing = ['INPUT', 'SELECT', 'TEXTAREA'].includes(document.activeElement?.tagName);
            if (!typing) route();
          }, 500);
        }
      }
    } catch (e) { /* reconnect below */ }
    status.textContent = 'offline';
    await new Promise((ok) => setTimeout(ok, 3000));
  }
}

async function route() {
  const [, page, ...rest] = (location.hash || '#/fleet').split('/');
  try {
    if (page === 'device') await devicePage(decodeURIComponent(rest.join('/')));
    else if (page === 'operations') await operationsPage();
    else if (page === 'groups') await groupsPage();
    else if (page === 'campaign') await campaignPage(Number(rest[0]));
    else await fleetPage();
  } catch (e) { showProblem(e); }
}

window.addEventListener('hashchange', () => { fleet.offset = 0; route(); });
route();
live();
