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
    el('h2', {}, 'Firmware'),
    el('form', { id: 'firmware', onsubmit: (e) => { e.preventDefault(); act(d.id, 'firmware', { uri: e.target.elements.uri.value }); } },
      el('input', { name: 'uri', placeholder: 'image URL (see Files)', 'aria-label': 'firmware URL', required: '' }), ' ',
      el('button', {}, 'Update firmware')),
    el('h2', {}, 'Labels'),
    el('form', { id: 'labels', onsubmit: async (e) => {
      e.preventDefault();
      const labels = Object.fromEntries(e.target.elements.labels.value.split(',').map((p) => p.trim()).filter(Boolean)
        .map((p) => { const [k, ...v] = p.split('='); return [k.trim(), v.join('=').trim()]; }));
      try { await api(`/devices/${encodeURIComponent(d.id)}/labels`, { method: 'PUT', body: { labels } }); route(); }
      catch (err) { document.getElementById('acted').replaceChildren(el('span', { class: 'problem' }, `${err.title}: ${err.message}`)); }
    } },
      el('input', { name: 'labels', value: Object.entries(d.labels || {}).map(([k, v]) => `${k}=${v}`).join(', '), 'aria-label': 'labels', size: '40' }), ' ',
      el('button', {}, 'Save labels')),
    el('h2', {}, 'Native'),
    el('form', { id: 'native', onsubmit: async (e) => {
      e.preventDefault();
      const f = e.target.elements;
      const body = { op: f.op.value, path: f.path.value };
      if (f.value.value) { try { body.value = JSON.parse(f.value.value); } catch (err) { body.value = f.value.value; } }
      if (body.op !== 'read' && body.op !== 'discover' && !confirm(`${body.op} ${body.path} on ${d.id}?`)) return;
      try {
        const op = await api(`/devices/${encodeURIComponent(d.id)}/native`, { method: 'POST', body });
        document.getElementById('native-result').replaceChildren(`operation ${op.id}: ${op.state}`);
        setTimeout(async () => {
          const done = await api(`/operations/${op.id}`);
          document.getElementById('native-result').replaceChildren(`operation ${op.id}: ${done.state} `, el('pre', {}, JSON.stringify(done.result ?? done.error ?? null, null, 2)));
        }, 1500);
      } catch (err) { document.getElementById('native-result').replaceChildren(el('span', { class: 'problem' }, `${err.title}: ${err.message}`)); }
    } },
      el('select', { name: 'op', 'aria-label': 'operation' }, ['read', 'write', 'execute', 'discover', 'observe'].map((o) => el('option', { value: o }, o))), ' ',
      el('input', { name: 'path', placeholder: d.protocol === 'lwm2m' ? '/3/0' : d.protocol === 'tr069' ? 'Device.DeviceInfo.' : './DevInfo', 'aria-label': 'path', required: '' }), ' ',
      el('input', { name: 'value', placeholder: 'value (write)', 'aria-label': 'value' }), ' ',
      el('button', {}, 'Send'), el('div', { id: 'native-result' })),
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

// ---- topology, rules, files, events -----------------------------------------------------------

async function topologyPage() {
  const graph = await api('/topology');
  const children = new Map();
  const isChild = new Set();
  for (const e of graph.edges) {
    if (!children.has(e.parent)) children.set(e.parent, []);
    children.get(e.parent).push(e.child);
    isChild.add(e.child);
  }
  const tree = (id, depth) => el('li', { 'data-node': id }, el('a', { href: '#/device/' + encodeURIComponent(id) }, id),
    depth < 8 && children.has(id) ? el('ul', {}, children.get(id).map((c) => tree(c, depth + 1))) : '');
  const roots = [...children.keys()].filter((p) => !isChild.has(p));
  view.replaceChildren(el('h1', {}, 'Topology'),
    roots.length ? el('ul', { id: 'topology' }, roots.map((r) => tree(r, 0))) : el('p', { class: 'muted' }, 'no gateway has devices behind it'));
}

async function rulesPage() {
  const rules = await api('/rules');
  view.replaceChildren(el('h1', {}, 'Rules'),
    el('table', { id: 'rules' }, el('tr', {}, ['Rule', 'Description', 'Selector', 'Triggers', 'Actions'].map((h) => el('th', {}, h))),
      rules.map((r) => el('tr', { 'data-rule': r.id }, el('td', {}, r.id), el('td', {}, r.description || ''),
        el('td', {}, JSON.stringify(r.selector)), el('td', {}, r.triggers.map((t) => t.kind || JSON.stringify(t)).join(', ')),
        el('td', {}, r.actions.map((a) => a.kind).join(', '))))));
}

function upload(file) {
  const status = document.getElementById('upload-status');
  const xhr = new XMLHttpRequest();
  xhr.open('POST', `${API}/files?name=${encodeURIComponent(file.name)}`);
  if (token()) xhr.setRequestHeader('Authorization', 'Bearer ' + token());
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) status.replaceChildren(el('progress', { max: e.total, value: e.loaded }), ` ${Math.round(100 * e.loaded / e.total)} %`); };
  xhr.onload = () => {
    if (xhr.status < 300) { status.replaceChildren(`${file.name} uploaded`); route(); } else {
      let p = {}; try { p = JSON.parse(xhr.responseText); } catch (e) { /* text */ }
      status.replaceChildren(el('span', { class: 'problem' }, `${p.title || xhr.status}: ${p.detail || xhr.responseText}`));
    }
  };
  xhr.send(file);
}

async function filesPage() {
  const files = await api('/files');
  view.replaceChildren(el('h1', {}, 'Files'),
    el('p', {}, el('input', { type: 'file', id: 'file', 'aria-label': 'file to upload', onchange: (e) => e.target.files[0] && upload(e.target.files[0]) }),
      ' ', el('span', { id: 'upload-status' })),
    el('table', { id: 'files' }, el('tr', {}, ['File', 'Size', 'URL devices fetch', ''].map((h) => el('th', {}, h))),
      files.map((f) => el('tr', { 'data-file': f.name }, el('td', {}, f.name), el('td', {}, `${f.size} bytes`), el('td', {}, f.url || ''),
        el('td', {}, el('button', { onclick: async () => {
          if (!confirm(`Delete ${f.name}?`)) return;
          try { await api(`/files/${encodeURIComponent(f.name)}`, { method: 'DELETE' }); route(); } catch (e) { showProblem(e); }
        } }, 'Delete'))))));
}

// Events seen on the stream, newest last, at most 500.
const eventLog = [];

function eventsPage() {
  const type = sessionStorage.getItem('events-type') || '';
  const device = sessionStorage.getItem('events-device') || '';
  const shown = eventLog.filter((e) => (!type || e.type === type) && (!device || JSON.stringify(e.data).includes(device))).slice(-200).reverse();
  const filter = el('form', { class: 'filters', onsubmit: (e) => {
    e.preventDefault();
    sessionStorage.setItem('events-type', e.target.elements.type.value);
    sessionStorage.setItem('events-device', e.target.elements.device.value);
    route();
  } },
    el('input', { name: 'type', value: type, placeholder: 'event type', 'aria-label': 'event type' }),
    el('input', { name: 'device', value: device, placeholder: 'device id', 'aria-label': 'device' }), el('button', {}, 'Filter'));
  view.replaceChildren(el('h1', {}, 'Events'), filter,
    el('table', { id: 'events' }, shown.map((e) => el('tr', {}, el('td', {}, e.at), el('td', {}, e.type), el('td', {}, summary(e.data))))));
}

function summary(d) {
  const device = d.device?.id || d.device || d.operation?.device || d.run?.device || '';
  const state = d.operation ? `operation ${d.operation.id} ${d.operation.action.kind} ${d.operation.state}` : d.path ? `${d.path} = ${JSON.stringify(d.value)}` : '';
  return [device, state].filter(Boolean).join(' · ');
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
        for (const raw of events) {
          const type = /^event: (.*)$/m.exec(raw)?.[1];
          const data = /^data: (.*)$/m.exec(raw)?.[1];
          if (type && data) {
            try { eventLog.push({ at: new Date().toISOString(), type, data: JSON.parse(data) }); } catch (e) { /* not JSON */ }
          }
        }
        eventLog.splice(0, Math.max(0, eventLog.length - 500));
        const relevant = location.hash.startsWith('#/events') ? /event: / : /event: (device|operation|groupOperation|topology)/;
        if (events.some((e) => relevant.test(e)) && !pending) {
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
    else if (page === 'topology') await topologyPage();
    else if (page === 'rules') await rulesPage();
    else if (page === 'files') await filesPage();
    else if (page === 'events') eventsPage();
    else if (page === 'campaign') await campaignPage(Number(rest[0]));
    else await fleetPage();
  } catch (e) { showProblem(e); }
}

window.addEventListener('hashchange', () => { fleet.offset = 0; route(); });
route();
live();
