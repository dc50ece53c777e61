// unidm's web console: plain JavaScript over the HTTP API (/api/v1), no build step.
// Pages are hash routes (#/fleet, #/device/<id>, #/groups, #/campaign/<id>, #/operations,
// #/operation/<id>, #/topology, #/rules, #/files, #/bootstrap, #/events). The API token, when
// the server wants one, is asked once and kept in sessionStorage.
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
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) e.append(c instanceof Node ? c : document.createTextNode(c ?? ''));
  return e;
}

// A labelled control: the label wraps it, so screen readers and clicks find it.
function field(label, control) { return el('label', { class: 'field' }, el('span', {}, label), control); }

function deviceLink(id) { return el('a', { href: '#/device/' + encodeURIComponent(id) }, id); }

function showProblem(e) {
  view.replaceChildren(el('div', { class: 'problem', role: 'alert' }, el('strong', {}, e.title || 'Error'), ': ', e.message));
}

// An API error next to what caused it: the problem's title and detail in `target`.
function problemIn(target, e) {
  document.getElementById(target)?.replaceChildren(el('span', { class: 'problem', role: 'alert' }, el('strong', {}, e.title || 'Error'), ': ', e.message));
}

// The operation an action created, linked, in `target`.
function created(target, op) {
  document.getElementById(target)?.replaceChildren('created ', el('a', { href: `#/operation/${op.id}`, 'data-operation': op.id }, `operation ${op.id}`), ` (${op.state})`);
}

function options(values, selected) {
  return values.map(([v, t]) => el('option', { value: v, selected: v === selected }, t));
}

// ---- fleet ------------------------------------------------------------------------------------

const fleet = { offset: 0, protocol: '', online: '', manufacturer: '', model: '', label: '', group: '', search: '' };

async function counts() {
  const protocols = ['lwm2m', 'tr069', 'omadm'];
  const all = await Promise.all(protocols.flatMap((p) => [api(`/devices?protocol=${p}&limit=1`), api(`/devices?protocol=${p}&online=true&limit=1`)]));
  return protocols.map((p, i) => el('span', { 'data-protocol': p }, `${p} ${all[2 * i].total} (${all[2 * i + 1].total} online)`));
}

function presence(d) {
  const state = d.presence?.state || 'offline';
  return el('span', { class: state }, state);
}

async function fleetPage() {
  const query = new URLSearchParams({ offset: fleet.offset, limit: PAGE });
  for (const k of ['protocol', 'online', 'manufacturer', 'model', 'label', 'group', 'search']) if (fleet[k]) query.set(k, fleet[k]);
  const [page, top, groups] = await Promise.all([api('/devices?' + query), counts(), api('/groups')]);
  const filters = el('form', { class: 'filters', id: 'fleet-filters', onsubmit: (e) => {
    e.preventDefault();
    for (const k of ['protocol', 'online', 'manufacturer', 'model', 'label', 'group', 'search']) fleet[k] = e.target.elements[k].value.trim();
    fleet.offset = 0;
    refresh();
  } },
    field('Protocol', el('select', { name: 'protocol' }, options([['', 'any'], ['lwm2m', 'lwm2m'], ['tr069', 'tr069'], ['omadm', 'omadm']], fleet.protocol))),
    field('Presence', el('select', { name: 'online' }, options([['', 'any'], ['true', 'online or sleeping'], ['false', 'offline']], fleet.online))),
    field('Manufacturer', el('input', { name: 'manufacturer', value: fleet.manufacturer, size: 12 })),
    field('Model', el('input', { name: 'model', value: fleet.model, size: 12 })),
    field('Label', el('input', { name: 'label', value: fleet.label, placeholder: 'key=value', size: 12 })),
    field('Group', el('select', { name: 'group' }, options([['', 'any'], ...groups.map((g) => [g.id, g.id])], fleet.group))),
    field('Id contains', el('input', { name: 'search', value: fleet.search, size: 14 })),
    el('button', {}, 'Apply'));
  const rows = page.items.map((d) => el('tr', { 'data-device': d.id },
    el('td', {}, deviceLink(d.id)),
    el('td', {}, d.protocol),
    el('td', {}, presence(d)),
    el('td', {}, [d.identity?.manufacturer, d.identity?.model].filter(Boolean).join(' ')),
    el('td', {}, d.snapshot?.firmware?.version || d.identity?.fwVersion || ''),
    el('td', {}, d.presence?.lastSeen || ''),
    el('td', {}, Object.entries(d.labels || {}).map(([k, v]) => `${k}=${v}`).join(', '))));
  const previous = el('button', { onclick: () => { fleet.offset = Math.max(0, fleet.offset - PAGE); refresh(); } }, '‹ previous');
  const next = el('button', { onclick: () => { fleet.offset += PAGE; refresh(); } }, 'next ›');
  previous.disabled = fleet.offset === 0;
  next.disabled = fleet.offset + PAGE >= page.total;
  const pager = el('p', { id: 'pager' }, previous, ` ${page.total ? fleet.offset + 1 : 0}–${fleet.offset + page.items.length} of ${page.total} `, next);
  show(
    el('h1', {}, 'Fleet'),
    el('div', { class: 'counts', id: 'counts' }, top),
    filters,
    el('table', { id: 'devices' }, el('tr', {}, ['Device', 'Protocol', 'Presence', 'Identity', 'Firmware', 'Last seen', 'Labels'].map((h) => el('th', {}, h))), rows),
    pager);
}

// ---- device -----------------------------------------------------------------------------------

// Runs an action that changes a device, once confirmed, and shows the operation it created.
async function act(id, what, body, target = 'acted', question = `${what} ${id}?`) {
  if (!confirm(question)) return;
  try {
    created(target, await api(`/devices/${encodeURIComponent(id)}/${what}`, { method: 'POST', body: body || {} }));
  } catch (e) { problemIn(target, e); }
}

function table(id, rows) {
  return el('table', { id }, rows.filter(([, v]) => v !== undefined && v !== null && v !== '').map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', {}, String(v)))));
}

function snapshotPanel(s) {
  const fw = s.firmware || {};
  const parts = [
    el('h3', {}, 'Firmware'),
    table('snapshot-firmware', [['Version', fw.version], ['State', fw.state], ['Result', fw.result], ['Package', fw.name], ['URI', fw.uri]]),
  ];
  if (s.battery) parts.push(el('h3', {}, 'Battery'), table('snapshot-battery', [['Level', `${s.battery.level} %`], ['Status', s.battery.status]]));
  if (s.memory) parts.push(el('h3', {}, 'Memory'), table('snapshot-memory', [['Total', s.memory.total], ['Available', s.memory.available]]));
  if (s.connectivity) parts.push(el('h3', {}, 'Connectivity'), table('snapshot-connectivity', Object.entries(s.connectivity).map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : v])));
  if (s.location) {
    const { latitude, longitude, altitude } = s.location;
    parts.push(el('h3', {}, 'Location'), el('p', { id: 'snapshot-location' }, `${latitude}, ${longitude}` + (altitude !== undefined && altitude !== null ? `, ${altitude} m` : '')));
  }
  return parts;
}

function softwareModules(d) {
  const verb = (module, action) => el('button', { type: 'button', onclick: () => act(d.id, 'software', { action, module }, 'software-result', `${action} ${module} on ${d.id}?`) }, action);
  const modules = (d.snapshot?.software || []).map((m) => el('tr', { 'data-module': m.id }, el('td', {}, m.name), el('td', {}, m.version || ''),
    el('td', {}, m.installed ? (m.active ? 'active' : 'inactive') : 'not installed'),
    el('td', {}, m.installed ? [verb(m.id, m.active ? 'deactivate' : 'activate'), ' ', verb(m.id, 'uninstall')] : '')));
  return el('table', { id: 'software' }, el('tr', {}, ['Module', 'Version', 'State', ''].map((h) => el('th', {}, h))), modules);
}

function softwareForm(d) {
  return [
    el('form', { id: 'software-install', onsubmit: (e) => {
      e.preventDefault();
      const f = e.target.elements;
      act(d.id, 'software', { action: 'install', uri: f.uri.value, name: f.name.value || undefined, version: f.version.value || undefined }, 'software-result', `Install ${f.uri.value} on ${d.id}?`);
    } },
      field('Package URL', el('input', { name: 'uri', required: true, size: 30 })), field('Name', el('input', { name: 'name', size: 10 })),
      field('Version', el('input', { name: 'version', size: 6 })), el('button', {}, 'Install')),
    el('div', { id: 'software-result' }),
  ];
}

function diagnosticsPanel(d) {
  return [el('form', { id: 'diagnostics', onsubmit: (e) => {
    e.preventDefault();
    const f = e.target.elements;
    const test = f.test.value;
    act(d.id, `diagnostics/${test}`, { host: f.host.value }, 'diagnostics-result', `${test} ${f.host.value} from ${d.id}?`);
  } },
    field('Test', el('select', { name: 'test' }, options([['ping', 'ping'], ['traceroute', 'traceroute']], 'ping'))),
    field('Host', el('input', { name: 'host', required: true, placeholder: 'example.net' })), el('button', {}, 'Run')),
  el('div', { id: 'diagnostics-result' })];
}

// The tree the device reported: an LwM2M client's registered objects; for TR-069 and OMA DM a
// browser over discover (GetParameterNames next level, Get ?list=Struct) from the root.
function treePanel(d) {
  const box = el('div', { id: 'tree' });
  const pick = (path) => { const f = document.getElementById('native').elements; f.path.value = path; f.path.focus(); };
  if (d.protocol === 'lwm2m') {
    const ep = d.id.slice('lwm2m:'.length);
    api(`/lwm2m/registrations/${encodeURIComponent(ep)}`).then((r) => box.replaceChildren(
      el('p', { class: 'muted' }, `LwM2M ${r.version}, binding ${r.binding}, lifetime ${r.lifetime} s${r.queueMode ? ', queue mode' : ''}`),
      el('ul', { class: 'tree' }, r.objects.map((o) => el('li', { 'data-path': o.path }, el('button', { type: 'button', class: 'link', onclick: () => pick(o.path) }, o.path), o.version ? ` ver ${o.version}` : '')))))
      .catch((e) => box.replaceChildren(el('span', { class: 'muted' }, `${e.title}: ${e.message}`)));
    return box;
  }
  // TR-069: the CPE's root object (TR-181 `Device.` or TR-098 `InternetGatewayDevice.`), one
  // level per click; OMA DM: the whole tree under the root at once (`?list=Struct`).
  const roots = d.protocol === 'tr069' ? ['Device.', 'InternetGatewayDevice.'] : ['.'];
  const discover = async (path) => {
    const op = await api(`/devices/${encodeURIComponent(d.id)}/native`, { method: 'POST', body: { op: 'discover', path } });
    const done = await settled(op.id);
    if (done.state !== 'succeeded') throw problem(`discover ${path} ${done.state}`, done.error?.message || '');
    return Array.isArray(done.result) ? done.result.map((n) => n.name || n.path || String(n)) : Object.keys(done.result || {});
  };
  const expand = async (paths, into) => {
    into.replaceChildren(el('span', { class: 'muted' }, `discovering ${paths[0]}…`));
    let names;
    let failure;
    for (const path of paths) {
      try { names = await discover(path); break; } catch (e) { failure = e; }
    }
    if (!names) { into.replaceChildren(el('span', { class: 'problem' }, `${failure.title}: ${failure.message}`)); return; }
    into.replaceChildren(el('ul', { class: 'tree' }, names.slice(0, 1000).map((n) => {
      const sub = el('div');
      const object = d.protocol === 'tr069' && n.endsWith('.');
      return el('li', { 'data-path': n }, el('button', { type: 'button', class: 'link', onclick: () => (object ? expand([n], sub) : pick(n)) }, n), sub);
    })));
  };
  box.append(el('button', { type: 'button', onclick: () => expand(roots, box) }, 'Browse the device tree'));
  return box;
}

// Fills the page's `uploaded` datalist with the files devices can fetch (a suggestion only:
// without it the field takes any URL).
function offerFiles() {
  api('/files').then((files) => document.getElementById('uploaded')?.replaceChildren(...files.filter((f) => f.url).map((f) => el('option', { value: f.url }, f.name)))).catch(() => {});
}

// Polls an operation until it ends (at most a minute).
async function settled(id) {
  for (let i = 0; i < 120; i++) {
    const op = await api(`/operations/${id}`);
    if (['succeeded', 'failed', 'cancelled', 'expired'].includes(op.state)) return op;
    await new Promise((ok) => setTimeout(ok, 500));
  }
  return api(`/operations/${id}`);
}

function operationRow(o) {
  const progress = o.progress ? ` ${o.progress.percent ?? ''}${o.progress.percent !== undefined && o.progress.percent !== null ? ' %' : ''} ${o.progress.message || ''}` : '';
  return el('tr', { 'data-operation': o.id }, el('td', {}, el('a', { href: `#/operation/${o.id}` }, String(o.id))), el('td', {}, deviceLink(o.device)),
    el('td', {}, o.action.kind), el('td', { class: 'state' }, o.state + progress), el('td', {}, o.error?.message || o.waitingFor || ''));
}

// The parts of a device page that follow the device (its presence, identity, operations,
// snapshot, events); the forms and the tree around them stay as the user left them.
function deviceParts(d, ops) {
  const i = d.identity || {};
  const mine = eventLog.filter((e) => eventDevice(e.data) === d.id).slice(-20).reverse();
  return {
    'device-head': [
      el('p', {}, presence(d), ` · ${d.protocol} · last seen ${d.presence?.lastSeen || 'never'}`),
      table('identity', [['Manufacturer', i.manufacturer], ['Model', i.model], ['Serial', i.serial], ['Firmware', i.fwVersion], ['Software', i.swVersion], ['Hardware', i.hwVersion], ['Type', i.deviceType]]),
      el('p', { id: 'capabilities' }, 'Capabilities: ', d.capabilities ? d.capabilities.join(', ') : 'not known until the device makes contact')],
    'device-operations': [el('table', { id: 'operations' }, el('tr', {}, ['Id', 'Device', 'Action', 'State', ''].map((h) => el('th', {}, h))), ops.items.map(operationRow))],
    'device-software': [softwareModules(d)],
    'device-topology': [d.topology?.parent ? ['parent ', deviceLink(d.topology.parent)] : 'no parent',
      (d.topology?.children || []).length ? [' · children: ', ...d.topology.children.flatMap((c) => [deviceLink(c), ' '])] : ''],
    'device-snapshot': [snapshotPanel(d.snapshot || {}),
      el('details', {}, el('summary', {}, 'Snapshot as JSON'), el('pre', { id: 'snapshot' }, JSON.stringify(d.snapshot, null, 2)))],
    'device-events': [el('table', { id: 'device-events' }, mine.map((e) => el('tr', {}, el('td', {}, e.at), el('td', {}, e.type), el('td', {}, summary(e.data)))))],
  };
}

async function deviceData(id) {
  return Promise.all([api('/devices/' + encodeURIComponent(id)), api(`/devices/${encodeURIComponent(id)}/operations?limit=20`)]);
}

// A live update of the device page shown now.
// Live updates of a device's page, counted (the browser tests read it).
let deviceUpdates = 0;
window.unidmDeviceUpdates = () => deviceUpdates;

async function updateDevice(id) {
  deviceUpdates += 1;
  const parts = deviceParts(...await deviceData(id));
  if (view.dataset.device !== id) return;
  for (const [box, children] of Object.entries(parts)) document.getElementById(box)?.replaceChildren(...children.flat(Infinity));
}

async function devicePage(id) {
  const [d, ops] = await deviceData(id);
  const native = el('form', { id: 'native', onsubmit: async (e) => {
    e.preventDefault();
    const f = e.target.elements;
    const body = { op: f.op.value, path: f.path.value };
    if (f.value.value) { try { body.value = JSON.parse(f.value.value); } catch (err) { body.value = f.value.value; } }
    if (!['read', 'discover'].includes(body.op) && !confirm(`${body.op} ${body.path} on ${d.id}?`)) return;
    try {
      const op = await api(`/devices/${encodeURIComponent(d.id)}/native`, { method: 'POST', body });
      created('native-result', op);
      const done = await settled(op.id);
      document.getElementById('native-result')?.replaceChildren(el('a', { href: `#/operation/${op.id}` }, `operation ${op.id}`), `: ${done.state} `,
        el('pre', {}, JSON.stringify(done.result ?? done.error ?? null, null, 2)));
    } catch (err) { problemIn('native-result', err); }
  } },
    field('Operation', el('select', { name: 'op' }, options(['read', 'write', 'execute', 'discover', 'observe', 'create', 'delete'].map((o) => [o, o]), 'read'))),
    field('Path', el('input', { name: 'path', placeholder: d.protocol === 'lwm2m' ? '/3/0' : d.protocol === 'tr069' ? 'Device.DeviceInfo.' : './DevInfo', required: true })),
    field('Value', el('input', { name: 'value', placeholder: 'value (write)' })),
    el('button', {}, 'Send'), el('div', { id: 'native-result' }));
  const parts = deviceParts(d, ops);
  const box = (id, tag = 'div') => el(tag, { id }, parts[id]);
  view.dataset.device = d.id;
  show(
    el('h1', {}, d.id),
    box('device-head'),
    el('p', { class: 'actions' },
      el('button', { onclick: () => act(d.id, 'refresh') }, 'Refresh'), ' ',
      el('button', { id: 'reboot', onclick: () => act(d.id, 'reboot') }, 'Reboot'), ' ',
      el('button', { onclick: () => act(d.id, 'factory-reset', {}, 'acted', `Factory reset ${d.id}? Its data and settings are erased.`) }, 'Factory reset'), ' ',
      el('span', { id: 'acted', 'aria-live': 'polite' })),
    el('h2', {}, 'Operations'), box('device-operations'),
    el('h2', {}, 'Firmware'),
    el('form', { id: 'firmware', onsubmit: (e) => { e.preventDefault(); const uri = e.target.elements.uri.value; act(d.id, 'firmware', { uri }, 'firmware-result', `Update ${d.id} with ${uri}?`); } },
      field('Image', el('input', { name: 'uri', placeholder: 'image URL', list: 'uploaded', required: true, size: 40 })),
      el('datalist', { id: 'uploaded' }), el('button', {}, 'Update firmware'), el('span', { id: 'firmware-result' })),
    el('h2', {}, 'Software'), box('device-software'), el('div', {}, softwareForm(d)),
    el('h2', {}, 'Diagnostics'), el('div', {}, diagnosticsPanel(d)),
    el('h2', {}, 'Labels'),
    el('form', { id: 'labels', onsubmit: async (e) => {
      e.preventDefault();
      const labels = Object.fromEntries(e.target.elements.labels.value.split(',').map((p) => p.trim()).filter(Boolean)
        .map((p) => { const [k, ...v] = p.split('='); return [k.trim(), v.join('=').trim()]; }));
      try { await api(`/devices/${encodeURIComponent(d.id)}/labels`, { method: 'PUT', body: { labels } }); refresh(); } catch (err) { problemIn('labels-result', err); }
    } },
      field('Labels', el('input', { name: 'labels', value: Object.entries(d.labels || {}).map(([k, v]) => `${k}=${v}`).join(', '), size: 40 })),
      el('button', {}, 'Save labels'), el('span', { id: 'labels-result' })),
    el('h2', {}, 'Native'), native,
    el('h3', {}, 'Tree'), treePanel(d),
    el('h2', {}, 'Topology'), box('device-topology', 'p'),
    el('h2', {}, 'Snapshot'), box('device-snapshot'),
    el('h2', {}, 'Live events'), box('device-events'));
  offerFiles();
}

async function operationPage(id) {
  const o = await api(`/operations/${id}`);
  const cancel = el('button', { onclick: async () => {
    if (!confirm(`Cancel operation ${id}?`)) return;
    try { await api(`/operations/${id}/cancel`, { method: 'POST', body: {} }); refresh(); } catch (e) { problemIn('operation-result', e); }
  } }, 'Cancel');
  cancel.disabled = ['succeeded', 'failed', 'cancelled', 'expired'].includes(o.state);
  show(el('h1', {}, `Operation ${o.id}`),
    table('operation', [['Device', o.device], ['Action', o.action.kind], ['State', o.state], ['Progress', o.progress ? `${o.progress.percent ?? ''} ${o.progress.message || ''}` : ''],
      ['Waiting for', o.waitingFor], ['Error', o.error ? `${o.error.kind}: ${o.error.message}` : ''], ['Attempts', o.attempts], ['Group operation', o.groupOperation], ['Created', o.createdAt], ['Updated', o.updatedAt]]),
    el('p', {}, deviceLink(o.device), ' ', cancel, el('span', { id: 'operation-result' })),
    el('h2', {}, 'Action'), el('pre', {}, JSON.stringify(o.action, null, 2)),
    el('h2', {}, 'Result'), el('pre', { id: 'operation-result-value' }, JSON.stringify(o.result ?? null, null, 2)));
}

// ---- groups and campaigns ---------------------------------------------------------------------

function selectorFrom(f) {
  const s = {};
  for (const k of ['protocol', 'manufacturer', 'model', 'version']) if (f[k].value.trim()) s[k] = f[k].value.trim();
  const labels = f.labels.value.split(',').map((p) => p.trim()).filter(Boolean).map((p) => p.split('='));
  if (labels.length) s.labels = Object.fromEntries(labels.map(([k, ...v]) => [k.trim(), v.join('=').trim()]));
  return Object.keys(s).length ? s : null;
}

async function preview(f) {
  const out = document.getElementById('group-preview');
  const members = f.members.value.split(/[\s,]+/).filter(Boolean);
  const s = selectorFrom(f);
  let matched = { items: [], total: 0 };
  try {
    if (s) {
      const q = new URLSearchParams({ limit: 20 });
      for (const k of ['protocol', 'manufacturer', 'model', 'version']) if (s[k]) q.set(k, s[k]);
      if (s.labels) q.set('label', Object.entries(s.labels).map(([k, v]) => `${k}=${v}`).join(','));
      matched = await api('/devices?' + q);
    }
    out.replaceChildren(el('p', {}, `${members.length} listed, ${matched.total} matching the selector`),
      el('ul', {}, [...members.map((m) => el('li', {}, deviceLink(m))), ...matched.items.map((d) => el('li', {}, deviceLink(d.id)))]),
      matched.total > matched.items.length ? el('p', { class: 'muted' }, `and ${matched.total - matched.items.length} more`) : '');
  } catch (e) { problemIn('group-preview', e); }
}

async function groupsPage() {
  const groups = await api('/groups');
  const details = await Promise.all(groups.map((g) => Promise.all([
    api(`/devices?group=${encodeURIComponent(g.id)}&limit=1`), api(`/groups/${encodeURIComponent(g.id)}/operations`)])));
  const rows = groups.map((g, n) => {
    const [members, campaigns] = details[n];
    return el('tr', { 'data-group': g.id },
      el('td', {}, el('a', { href: `#/fleet?group=${encodeURIComponent(g.id)}`, onclick: (e) => { e.preventDefault(); Object.assign(fleet, { group: g.id, offset: 0 }); location.hash = '#/fleet'; } }, g.id)),
      el('td', {}, g.description || ''), el('td', {}, `${members.total} members`),
      el('td', {}, g.selector ? JSON.stringify(g.selector) : ''),
      el('td', {}, campaigns.map((c) => el('a', { href: `#/campaign/${c.id}` }, `#${c.id} ${c.action.kind} `))),
      el('td', {}, el('button', { onclick: async () => {
        if (!confirm(`Delete group ${g.id}? Its devices stay.`)) return;
        try { await api(`/groups/${encodeURIComponent(g.id)}`, { method: 'DELETE' }); refresh(); } catch (e) { problemIn('start-problem', e); }
      } }, 'Delete')));
  });
  const create = el('form', { id: 'create-group', onsubmit: async (e) => {
    e.preventDefault();
    const f = e.target.elements;
    const body = { id: f.id.value.trim(), description: f.description.value || undefined, members: f.members.value.split(/[\s,]+/).filter(Boolean), selector: selectorFrom(f) || undefined };
    try { await api('/groups', { method: 'POST', body }); refresh(); } catch (err) { problemIn('group-preview', err); }
  } },
    el('div', { class: 'filters' }, field('Id', el('input', { name: 'id', required: true, size: 12 })), field('Description', el('input', { name: 'description', size: 24 }))),
    field('Members (device ids)', el('textarea', { name: 'members', rows: 2, cols: 60 })),
    el('div', { class: 'filters' }, el('span', {}, 'Selector:'),
      field('Protocol', el('select', { name: 'protocol' }, options([['', 'any'], ['lwm2m', 'lwm2m'], ['tr069', 'tr069'], ['omadm', 'omadm']], ''))),
      field('Manufacturer', el('input', { name: 'manufacturer', size: 12 })), field('Model', el('input', { name: 'model', size: 12 })),
      field('Firmware', el('input', { name: 'version', size: 8 })), field('Labels', el('input', { name: 'labels', placeholder: 'key=value', size: 14 }))),
    el('button', { type: 'button', onclick: (e) => preview(e.target.form.elements) }, 'Preview members'), ' ', el('button', {}, 'Create group'),
    el('div', { id: 'group-preview' }));
  const start = el('form', { id: 'start-campaign', onsubmit: async (e) => {
    e.preventDefault();
    const f = e.target.elements;
    const kind = f.kind.value;
    const action = kind === 'firmware' ? { kind, uri: f.uri.value } : { kind };
    if (kind === 'firmware' && !f.uri.value) { problemIn('start-problem', problem('Missing image', 'a firmware campaign needs an image URL')); return; }
    if (!confirm(`${kind}${kind === 'firmware' ? ' ' + f.uri.value : ''} on every member of ${f.group.value}?`)) return;
    try {
      const op = await api(`/groups/${encodeURIComponent(f.group.value)}/operations`, { method: 'POST', body: { action, concurrency: Number(f.concurrency.value) || 100 } });
      location.hash = `#/campaign/${op.id}`;
    } catch (err) { problemIn('start-problem', err); }
  } },
    field('Group', el('select', { name: 'group' }, groups.map((g) => el('option', { value: g.id }, g.id)))),
    field('Action', el('select', { name: 'kind' }, options([['firmware', 'firmware update'], ['reboot', 'reboot'], ['factoryReset', 'factory reset'], ['refreshDeviceInfo', 'refresh']], 'firmware'))),
    field('Image URL', el('input', { name: 'uri', list: 'uploaded', size: 30 })), el('datalist', { id: 'uploaded' }),
    field('Concurrency', el('input', { name: 'concurrency', type: 'number', min: '1', value: '100' })),
    el('button', {}, 'Start campaign'), el('span', { id: 'start-problem' }));
  show(el('h1', {}, 'Groups'),
    el('table', { id: 'groups' }, el('tr', {}, ['Group', 'Description', 'Members', 'Selector', 'Campaigns', ''].map((h) => el('th', {}, h))), rows),
    el('h2', {}, 'Start a campaign'), groups.length ? start : el('p', { class: 'muted' }, 'no group yet'),
    el('h2', {}, 'Create a group'), create);
  offerFiles();
}

const STATES = ['pending', 'dispatched', 'waiting', 'running', 'succeeded', 'failed', 'cancelled', 'expired'];
const COLORS = { succeeded: '#1a7f37', failed: '#cf222e', running: '#0969da', waiting: '#9a6700', expired: '#6b7280', cancelled: '#6b7280' };

async function campaignPage(id) {
  const v = await api(`/group-operations/${id}`);
  const a = v.aggregate;
  const bar = el('div', { id: 'bar', role: 'img', 'aria-label': STATES.filter((s) => a.counts[s]).map((s) => `${a.counts[s]} ${s}`).join(', '), style: 'display:flex;height:1.2em;background:#e5e7eb;margin:.5em 0' },
    STATES.filter((s) => a.counts[s]).map((s) => el('div', { title: `${s} ${a.counts[s]}`, style: `flex:${a.counts[s]};background:${COLORS[s] || '#9ca3af'}` })));
  const failures = a.results.filter((r) => r.state === 'failed' || r.state === 'expired');
  const cancel = el('button', { onclick: async () => {
    if (!confirm(`Cancel campaign ${id}?`)) return;
    try { await api(`/group-operations/${id}/cancel`, { method: 'POST', body: {} }); refresh(); } catch (e) { problemIn('campaign-result', e); }
  } }, 'Cancel');
  cancel.disabled = a.done;
  show(el('h1', {}, `Campaign ${id}: ${v.action.kind} on ${v.group}`),
    el('p', { id: 'campaign-counts' }, `${a.total} devices: ` + STATES.filter((s) => a.counts[s]).map((s) => `${a.counts[s]} ${s}`).join(', '), a.done ? ' — done' : ''),
    bar, cancel, el('span', { id: 'campaign-result' }),
    el('h2', {}, `Failures (${failures.length})`),
    el('table', { id: 'failures' }, failures.map((r) => el('tr', {}, el('td', {}, deviceLink(r.device)), el('td', {}, r.error?.message || r.state)))),
    el('h2', {}, 'Devices'),
    el('table', { id: 'results' }, a.results.map((r) => el('tr', { 'data-device': r.device }, el('td', {}, deviceLink(r.device)),
      el('td', { class: 'state' }, el('a', { href: `#/operation/${r.operation}` }, r.state))))));
}

// ---- operations -------------------------------------------------------------------------------

const opFilter = { state: '', device: '', groupOperation: '', offset: 0 };

async function operationsPage() {
  const q = new URLSearchParams({ limit: 100, offset: opFilter.offset });
  for (const k of ['state', 'device', 'groupOperation']) if (opFilter[k]) q.set(k, opFilter[k]);
  const ops = await api('/operations?' + q);
  const filters = el('form', { class: 'filters', id: 'operation-filters', onsubmit: (e) => {
    e.preventDefault();
    for (const k of ['state', 'device', 'groupOperation']) opFilter[k] = e.target.elements[k].value.trim();
    opFilter.offset = 0;
    refresh();
  } },
    field('State', el('select', { name: 'state' }, options([['', 'any'], ...STATES.map((s) => [s, s])], opFilter.state))),
    field('Device', el('input', { name: 'device', value: opFilter.device, size: 20 })),
    field('Group operation', el('input', { name: 'groupOperation', value: opFilter.groupOperation, size: 6, inputmode: 'numeric' })),
    el('button', {}, 'Apply'));
  const previous = el('button', { onclick: () => { opFilter.offset = Math.max(0, opFilter.offset - 100); refresh(); } }, '‹ newer');
  const next = el('button', { onclick: () => { opFilter.offset += 100; refresh(); } }, 'older ›');
  previous.disabled = opFilter.offset === 0;
  next.disabled = opFilter.offset + 100 >= ops.total;
  show(el('h1', {}, 'Operations'), filters,
    el('table', { id: 'all-operations' }, el('tr', {}, ['Id', 'Device', 'Action', 'State', ''].map((h) => el('th', {}, h))), ops.items.map(operationRow)),
    el('p', { id: 'operations-pager' }, previous, ` ${ops.total} in all `, next));
}

// ---- topology, rules, files, bootstrap, events ------------------------------------------------

async function topologyPage() {
  const graph = await api('/topology');
  const children = new Map();
  const isChild = new Set();
  for (const e of graph.edges) {
    if (!children.has(e.parent)) children.set(e.parent, []);
    children.get(e.parent).push(e.child);
    isChild.add(e.child);
  }
  const tree = (id, depth) => el('li', { 'data-node': id }, deviceLink(id),
    depth < 8 && children.has(id) ? el('ul', {}, children.get(id).map((c) => tree(c, depth + 1))) : '');
  const roots = [...children.keys()].filter((p) => !isChild.has(p));
  show(el('h1', {}, 'Topology'),
    roots.length ? el('ul', { id: 'topology' }, roots.map((r) => tree(r, 0))) : el('p', { class: 'muted' }, 'no gateway has devices behind it'));
}

const RULE_EXAMPLE = { id: 'reboot-on-contact', description: 'example', selector: { labels: { tier: 'gold' } }, triggers: ['firstContact'], actions: [{ kind: 'refreshDeviceInfo' }] };

async function rulesPage() {
  const rules = await api('/rules');
  show(el('h1', {}, 'Rules'),
    el('table', { id: 'rules' }, el('tr', {}, ['Rule', 'Description', 'Selector', 'Triggers', 'Actions', ''].map((h) => el('th', {}, h))),
      rules.map((r) => el('tr', { 'data-rule': r.id }, el('td', {}, r.id), el('td', {}, r.description || ''),
        el('td', {}, JSON.stringify(r.selector)), el('td', {}, r.triggers.map((t) => (typeof t === 'string' ? t : JSON.stringify(t))).join(', ')),
        el('td', {}, r.actions.map((a) => a.kind).join(', ')),
        el('td', {}, el('button', { onclick: async () => {
          if (!confirm(`Delete rule ${r.id}?`)) return;
          try { await api(`/rules/${encodeURIComponent(r.id)}`, { method: 'DELETE' }); refresh(); } catch (e) { problemIn('rule-result', e); }
        } }, 'Delete'))))),
    el('h2', {}, 'Create a rule'),
    el('form', { id: 'create-rule', onsubmit: async (e) => {
      e.preventDefault();
      let body;
      try { body = JSON.parse(e.target.elements.rule.value); } catch (err) { problemIn('rule-result', problem('Not JSON', err.message)); return; }
      try { await api('/rules', { method: 'POST', body }); refresh(); } catch (err) { problemIn('rule-result', err); }
    } },
      field('Rule (JSON: selector, triggers firstContact / boot, actions)', el('textarea', { name: 'rule', rows: 8, cols: 70 }, JSON.stringify(RULE_EXAMPLE, null, 2))),
      el('button', {}, 'Create rule'), el('div', { id: 'rule-result' })));
}

function upload(file) {
  const status = document.getElementById('upload-status');
  const xhr = new XMLHttpRequest();
  xhr.open('POST', `${API}/files?name=${encodeURIComponent(file.name)}`);
  if (token()) xhr.setRequestHeader('Authorization', 'Bearer ' + token());
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) status.replaceChildren(el('progress', { max: e.total, value: e.loaded }), ` ${Math.round(100 * e.loaded / e.total)} %`); };
  xhr.onload = () => {
    if (xhr.status < 300) { refresh(); document.getElementById('upload-status')?.replaceChildren(`${file.name} uploaded`); } else {
      let p = {}; try { p = JSON.parse(xhr.responseText); } catch (e) { /* text */ }
      status.replaceChildren(el('span', { class: 'problem', role: 'alert' }, `${p.title || xhr.status}: ${p.detail || xhr.responseText}`));
    }
  };
  xhr.onerror = () => status.replaceChildren(el('span', { class: 'problem', role: 'alert' }, 'upload failed: the connection broke'));
  xhr.send(file);
}

async function filesPage() {
  const files = await api('/files');
  show(el('h1', {}, 'Files'),
    el('p', {}, field('Upload a file', el('input', { type: 'file', id: 'file', onchange: (e) => e.target.files[0] && upload(e.target.files[0]) })),
      ' ', el('span', { id: 'upload-status', 'aria-live': 'polite' })),
    el('table', { id: 'files' }, el('tr', {}, ['File', 'Size', 'URL devices fetch', ''].map((h) => el('th', {}, h))),
      files.map((f) => el('tr', { 'data-file': f.name }, el('td', {}, f.name), el('td', {}, `${f.size} bytes`), el('td', {}, f.url || ''),
        el('td', {}, el('button', { onclick: async () => {
          if (!confirm(`Delete ${f.name}?`)) return;
          try { await api(`/files/${encodeURIComponent(f.name)}`, { method: 'DELETE' }); refresh(); } catch (e) { problemIn('upload-status', e); }
        } }, 'Delete'))))));
}

async function bootstrapPage() {
  const entries = await api('/lwm2m/bootstrap');
  const form = el('form', { id: 'bootstrap-config', onsubmit: async (e) => {
    e.preventDefault();
    const f = e.target.elements;
    const security = f.mode.value === 'psk' ? { mode: 'psk', identity: f.identity.value, key: f.key.value } : { mode: 'noSec' };
    const server = { shortServerId: Number(f.ssid.value), uri: f.uri.value, security, lifetime: Number(f.lifetime.value), binding: f.binding.value || 'U' };
    try { await api(`/lwm2m/bootstrap/${encodeURIComponent(f.endpoint.value.trim())}`, { method: 'PUT', body: { servers: [server] } }); refresh(); } catch (err) { problemIn('bootstrap-result', err); }
  } },
    el('div', { class: 'filters' }, field('Endpoint', el('input', { name: 'endpoint', required: true, size: 20 })),
      field('Server URI', el('input', { name: 'uri', required: true, placeholder: 'coap://host:5683', size: 24 })),
      field('Short server id', el('input', { name: 'ssid', type: 'number', min: '1', max: '65534', value: '1' })),
      field('Lifetime (s)', el('input', { name: 'lifetime', type: 'number', min: '0', value: '86400' })),
      field('Binding', el('input', { name: 'binding', value: 'U', size: 4 }))),
    el('div', { class: 'filters' }, field('Security', el('select', { name: 'mode' }, options([['noSec', 'none'], ['psk', 'pre-shared key']], 'noSec'))),
      field('PSK identity', el('input', { name: 'identity', autocomplete: 'off' })),
      field('PSK key (base64)', el('input', { name: 'key', type: 'password', autocomplete: 'off' }))),
    el('button', {}, 'Save configuration'), el('div', { id: 'bootstrap-result' }));
  show(el('h1', {}, 'LwM2M bootstrap'),
    el('p', { class: 'muted' }, 'What the bootstrap server writes into a client that asks for bootstrap: its Security (/0) and Server (/1) instances. Keys are write-only.'),
    el('table', { id: 'bootstrap' }, el('tr', {}, ['Endpoint', 'Servers', ''].map((h) => el('th', {}, h))),
      entries.map((b) => el('tr', { 'data-endpoint': b.endpoint }, el('td', {}, b.endpoint),
        el('td', {}, b.config.servers.map((s) => `#${s.shortServerId} ${s.uri} (${s.security.mode}, lifetime ${s.lifetime} s)`).join('; ')),
        el('td', {}, el('button', { onclick: async () => {
          if (!confirm(`Delete the bootstrap configuration of ${b.endpoint}?`)) return;
          try { await api(`/lwm2m/bootstrap/${encodeURIComponent(b.endpoint)}`, { method: 'DELETE' }); refresh(); } catch (e) { problemIn('bootstrap-result', e); }
        } }, 'Delete'))))),
    el('h2', {}, 'Add or replace'), form);
}

// Events seen on the stream, newest last, at most 500.
const eventLog = [];

function eventsPage() {
  const type = sessionStorage.getItem('events-type') || '';
  const device = sessionStorage.getItem('events-device') || '';
  const shown = eventLog.filter((e) => (!type || e.type === type) && (!device || eventDevice(e.data).includes(device))).slice(-200).reverse();
  const filter = el('form', { class: 'filters', onsubmit: (e) => {
    e.preventDefault();
    sessionStorage.setItem('events-type', e.target.elements.type.value);
    sessionStorage.setItem('events-device', e.target.elements.device.value);
    refresh();
  } },
    field('Type', el('input', { name: 'type', value: type, placeholder: 'operationChanged' })),
    field('Device', el('input', { name: 'device', value: device })), el('button', {}, 'Filter'));
  show(el('h1', {}, 'Events'), filter, el('p', { class: 'muted' }, `${eventLog.length} events received since this page was opened (the last 500 kept)`),
    el('table', { id: 'events' }, shown.map((e) => el('tr', {}, el('td', {}, e.at), el('td', {}, e.type), el('td', {}, summary(e.data))))));
}

function eventDevice(d) {
  const v = d.device?.id || d.device || d.operation?.device || d.run?.device || '';
  return typeof v === 'string' ? v : '';
}

function summary(d) {
  const state = d.operation ? `operation ${d.operation.id} ${d.operation.action.kind} ${d.operation.state}` : d.path ? `${d.path} = ${JSON.stringify(d.value)}` : '';
  return [eventDevice(d), state].filter(Boolean).join(' · ');
}

// ---- live updates: the event stream, read with fetch so that the token header goes along ----

// A form the user has typed into is not wiped by a live re-render; leaving the page, or
// submitting, clears this.
let editing = false;
// Events received from the stream since the page opened.
let received = 0;
window.unidmEvents = () => received;
view.addEventListener('input', () => { editing = true; });
view.addEventListener('change', () => { editing = true; });

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
      // On a device's page, whether an event since the last update concerns that device.
      let deviceDirty = false;
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
            received += 1;
            try {
              const parsed = JSON.parse(data);
              eventLog.push({ at: new Date().toISOString(), type, data: parsed });
              // A topology change may take the device from its gateway: always a reason.
              if (view.dataset.device && (eventDevice(parsed) === view.dataset.device || type.startsWith('topology'))) deviceDirty = true;
            } catch (e) { /* not JSON */ }
          }
        }
        if (eventLog.length > 600) eventLog.splice(0, eventLog.length - 500);
        const onDevice = location.hash.startsWith('#/device/') && view.dataset.device;
        const relevant = location.hash.startsWith('#/events') ? /event: / : /event: (device|operation|groupOperation|topology)/;
        if ((onDevice ? deviceDirty : events.some((e) => relevant.test(e))) && !pending) {
          // Re-render at most twice a second, whatever the event rate, and never while the
          // user is typing: a re-render would wipe the form.
          pending = true;
          setTimeout(async () => {
            const typing = ['INPUT', 'SELECT', 'TEXTAREA'].includes(document.activeElement?.tagName);
            try {
              if (location.hash.startsWith('#/device/') && view.dataset.device) {
                if (deviceDirty) {
                  deviceDirty = false;
                  await updateDevice(view.dataset.device);
                }
              }
              else if (!typing && !editing && !rendering) await route(true);
            } catch (e) { /* the next event tries again */ }
            pending = false;
          }, 500);
        }
      }
    } catch (e) { /* reconnect below */ }
    status.textContent = 'offline';
    await new Promise((ok) => setTimeout(ok, 3000));
  }
}

let rendering = false;
// Whether the render under way is a live one (events, not the user, asked for it).
let liveRender = false;
let renders = Promise.resolve();

// Renders the page the hash names, after the render under way if there is one: a live
// re-render that started before the user applied a filter must not land after it.
function route(live = false) {
  const next = renders.then(() => render(live));
  renders = next.catch(() => {});
  return next;
}

// Puts a rendered page in place, unless it is a live re-render and the user started editing a
// form while it fetched: what they typed or chose stays, the next event renders again.
function show(...nodes) {
  if (liveRender && editing) return;
  view.replaceChildren(...nodes);
}

// `window.unidmRendered` tells how long the last render took (the browser tests read it).
async function render(live = false) {
  liveRender = live;
  const [path, query] = (location.hash || '#/fleet').split('?');
  const [, page, ...rest] = path.split('/');
  const started = performance.now();
  rendering = true;
  delete view.dataset.device;
  try {
    if (page === 'fleet' && query) {
      const q = new URLSearchParams(query);
      for (const k of ['protocol', 'online', 'manufacturer', 'model', 'label', 'group', 'search']) if (q.has(k)) fleet[k] = q.get(k);
    }
    if (page === 'device') await devicePage(decodeURIComponent(rest.join('/')));
    else if (page === 'operations') await operationsPage();
    else if (page === 'operation') await operationPage(Number(rest[0]));
    else if (page === 'groups') await groupsPage();
    else if (page === 'topology') await topologyPage();
    else if (page === 'rules') await rulesPage();
    else if (page === 'files') await filesPage();
    else if (page === 'bootstrap') await bootstrapPage();
    else if (page === 'events') eventsPage();
    else if (page === 'campaign') await campaignPage(Number(rest[0]));
    else await fleetPage();
    for (const a of document.querySelectorAll('header nav a')) a.toggleAttribute('aria-current', a.getAttribute('href') === `#/${page || 'fleet'}`);
  } catch (e) { showProblem(e); }
  rendering = false;
  window.unidmRendered = { page: page || 'fleet', ms: performance.now() - started, at: Date.now() };
}

// A re-render the user asked for (a submitted form, a button): forms are fresh again.
function refresh() { editing = false; return route(); }

// "Skip to content" moves the focus without touching the route.
document.querySelector('.skip')?.addEventListener('click', (e) => { e.preventDefault(); view.focus(); });
window.addEventListener('hashchange', () => { fleet.offset = 0; opFilter.offset = 0; refresh(); });
route();
live();
