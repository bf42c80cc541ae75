// The attendance web app: a client of the server's public REST API and WebSocket only.
// Hand-written ES module, no dependencies. The token lives in sessionStorage.

const ROLES_ALL = ['employee', 'department_head', 'hr_staff', 'super_admin'];
const ROLES_HR = ['hr_staff', 'super_admin'];
const PAGES = [
  { id: 'dashboard', title: 'Dashboard', roles: ROLES_ALL, render: dashboardPage },
  { id: 'daily', title: 'Daily attendance', roles: ROLES_ALL, render: dailyPage },
  { id: 'timesheet', title: 'Timesheet', roles: ROLES_ALL, render: timesheetPage },
  { id: 'leave', title: 'Leave', roles: ROLES_ALL, render: leavePage },
  { id: 'holidays', title: 'Holidays', roles: ROLES_ALL, render: holidaysPage },
  { id: 'policies', title: 'Leave policies', roles: ROLES_ALL, render: policiesPage },
  { id: 'machines', title: 'Machines', roles: ROLES_HR, render: machinesPage },
  { id: 'users', title: 'Users', roles: ROLES_HR, render: usersPage },
];

// Status → colour class, short code and the group the dashboard counts it in.
const STATUS_GROUPS = [
  { key: 'ontime', label: 'On time', test: (s) => s === 'Present-OnTime', code: 'P' },
  { key: 'considered', label: 'Considered', test: (s) => s === 'Present-Considered', code: 'C' },
  { key: 'late', label: 'Late', test: (s) => s === 'Present-Late', code: 'L' },
  { key: 'absent', label: 'Absent', test: (s) => s === 'Absent', code: 'A' },
  { key: 'leave', label: 'On leave', test: (s) => s.startsWith('Leave-'), code: 'LV' },
  { key: 'pending', label: 'Pending', test: (s) => s === 'Pending', code: '…' },
  { key: 'holiday', label: 'Holiday', test: (s) => s === 'Holiday', code: 'H' },
  { key: 'weekend', label: 'Weekend', test: (s) => s === 'Weekend', code: 'W' },
];
const COLOURS = {
  ontime: '#1e7b34', considered: '#2f8f83', late: '#b26a00', absent: '#b3261e',
  leave: '#1f5fbf', pending: '#8a8f98', holiday: '#7b3fb5', weekend: '#5b6675',
};

const state = {
  token: sessionStorage.getItem('attendance.token'),
  user: JSON.parse(sessionStorage.getItem('attendance.user') || 'null'),
  timeZone: null,
  socket: null,
  socketRetry: 0,
  listeners: new Set(),
  cleanup: null,
  departments: null,
};

// ---------- small helpers ----------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function s(tag, attrs, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v != null) el.setAttribute(k, String(v));
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const $ = (sel, root = document) => root.querySelector(sel);
const main = () => $('#main');
const can = (roles) => state.user && roles.includes(state.user.role);
const isHr = () => can(ROLES_HR);
const fmtHours = (n) => (n == null ? '' : Number(n).toFixed(2));

function statusGroup(status) {
  return STATUS_GROUPS.find((g) => g.test(status || '')) || STATUS_GROUPS[5];
}

function badge(status) {
  const g = statusGroup(status);
  return h('span', { class: `badge st-${g.key}`, dataset: { status } }, status);
}

function message(text, isError = false) {
  const box = $('#message');
  box.textContent = text;
  box.className = isError ? 'message error' : 'message';
  box.hidden = !text;
}

function field(label, input) {
  return h('label', null, label, input);
}

function check(label, input) {
  return h('label', { class: 'check' }, input, label);
}

function siteDate(date = new Date()) {
  const opts = { year: 'numeric', month: '2-digit', day: '2-digit' };
  if (state.timeZone) opts.timeZone = state.timeZone;
  try {
    return new Intl.DateTimeFormat('en-CA', opts).format(date);
  } catch {
    return date.toISOString().slice(0, 10);
  }
}

function siteTime(iso) {
  const opts = { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' };
  if (state.timeZone) opts.timeZone = state.timeZone;
  try {
    return new Intl.DateTimeFormat('en-GB', opts).format(new Date(iso));
  } catch {
    return iso;
  }
}

function addDays(isoDate, n) {
  const d = new Date(`${isoDate}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

function results(body) {
  return Array.isArray(body) ? body : body && Array.isArray(body.results) ? body.results : [];
}

// ---------- the API ----------

class ApiError extends Error {
  constructor(status, body) {
    const msg = body && body.error ? body.error.message : `HTTP ${status}`;
    super(msg);
    this.status = status;
    this.body = body;
  }
}

async function api(path, { method = 'GET', json, body, contentType, raw = false } = {}) {
  const headers = {};
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (contentType) {
    headers['Content-Type'] = contentType;
  }
  const response = await fetch(path, { method, headers, body });
  if (response.status === 401 && state.token) {
    signOut('Your session ended; please sign in again.');
    throw new ApiError(401, null);
  }
  if (raw) {
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
    return response;
  }
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// Runs an action, showing its error (or success text) in the message box.
async function attempt(fn, success) {
  try {
    const result = await fn();
    if (success) message(success);
    return result;
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) message(e.message || String(e), true);
    return undefined;
  }
}

async function download(path) {
  const response = await api(path, { raw: true });
  const disposition = response.headers.get('Content-Disposition') || '';
  const match = /filename="?([^";]+)"?/.exec(disposition);
  const name = match ? match[1] : path.split('/').filter(Boolean).pop();
  const url = URL.createObjectURL(await response.blob());
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// ---------- the WebSocket ----------

function connectSocket() {
  if (!state.token || state.socket) return;
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const socket = new WebSocket(`${scheme}://${location.host}/ws?token=${encodeURIComponent(state.token)}`);
  state.socket = socket;
  socket.addEventListener('open', () => {
    state.socketRetry = 0;
    setLive(true);
  });
  socket.addEventListener('message', (event) => {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    for (const listener of state.listeners) {
      try {
        listener(data);
      } catch (e) {
        console.error(e);
      }
    }
  });
  socket.addEventListener('close', (event) => {
    if (state.socket === socket) state.socket = null;
    setLive(false);
    if (!state.token) return;
    if (event.code === 1008) {
      signOut('Your session ended; please sign in again.');
      return;
    }
    const delay = Math.min(30000, 500 * 2 ** state.socketRetry++);
    setTimeout(connectSocket, delay);
  });
}

function setLive(on) {
  const el = $('#live');
  el.textContent = on ? 'Live' : state.token ? 'Offline' : '';
  el.className = on ? 'live on' : 'live';
  document.body.dataset.live = on ? '1' : '0';
}

function listen(fn) {
  state.listeners.add(fn);
  return () => state.listeners.delete(fn);
}

// ---------- sign-in, navigation ----------

function signOut(text) {
  state.token = null;
  state.user = null;
  sessionStorage.removeItem('attendance.token');
  sessionStorage.removeItem('attendance.user');
  if (state.socket) state.socket.close(1000);
  state.socket = null;
  state.departments = null;
  renderChrome();
  loginPage();
  if (text) message(text, true);
}

function loginPage() {
  runCleanup();
  document.body.dataset.page = 'login';
  const user = h('input', { id: 'login-username', name: 'username', autocomplete: 'username', required: true });
  const pass = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const form = h('form', {
    onsubmit: async (e) => {
      e.preventDefault();
      message('');
      try {
        const reply = await api('/api/auth/login', { method: 'POST', json: { username: user.value, password: pass.value } });
        state.token = reply.access_token;
        state.user = reply.user;
        sessionStorage.setItem('attendance.token', state.token);
        sessionStorage.setItem('attendance.user', JSON.stringify(state.user));
        await start();
      } catch (err) {
        message(err.status === 401 ? 'Wrong username or password.' : err.message, true);
      }
    },
  }, field('Username', user), field('Password', pass), h('button', { id: 'login-submit', type: 'submit' }, 'Sign in'));
  main().replaceChildren(h('section', { class: 'card login' }, h('h1', null, 'Sign in'), form));
  user.focus();
}

function renderChrome() {
  const nav = $('#nav');
  nav.replaceChildren();
  $('#who').textContent = '';
  $('#signout').hidden = !state.user;
  if (!state.user) {
    setLive(false);
    return;
  }
  for (const page of PAGES.filter((p) => can(p.roles))) {
    nav.append(h('a', { href: `#/${page.id}`, dataset: { page: page.id } }, page.title));
  }
  const u = state.user;
  $('#who').textContent = `${u.username} · ${u.role.replace('_', ' ')}${u.employee_id ? ` · ${u.employee_id}` : ''}`;
}

function runCleanup() {
  if (state.cleanup) state.cleanup();
  state.cleanup = null;
}

async function route() {
  if (!state.user) return loginPage();
  const id = (location.hash.replace(/^#\/?/, '') || 'dashboard').split('?')[0];
  const page = PAGES.find((p) => p.id === id && can(p.roles));
  if (!page) {
    location.hash = '#/dashboard';
    return undefined;
  }
  runCleanup();
  message('');
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.page === page.id) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = `${page.title} · Attendance`;
  document.body.dataset.page = page.id;
  const root = h('section', { 'aria-labelledby': 'page-title' }, h('h1', { id: 'page-title' }, page.title));
  main().replaceChildren(root);
  main().removeAttribute('data-ready');
  try {
    state.cleanup = (await page.render(root)) || null;
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) message(e.message || String(e), true);
  }
  main().dataset.ready = page.id;
  // Keyboard and screen-reader users land on the new page's content, not back in the menu.
  if (document.activeElement && document.activeElement.closest('#nav')) main().focus({ preventScroll: true });
  return undefined;
}

async function start() {
  renderChrome();
  try {
    const settings = await api('/api/attendance/settings/');
    state.timeZone = settings.time_zone || null;
  } catch {
    state.timeZone = null;
  }
  if (!state.token) return;
  connectSocket();
  if (!location.hash || location.hash === '#/' || location.hash === '#') location.hash = '#/dashboard';
  else await route();
}

// Every department in the caller's scope (from the employees list).
async function departments() {
  if (state.departments) return state.departments;
  const names = new Set();
  for (let page = 1; page <= 20; page++) {
    const body = await api(`/api/attendance/employees/?page_size=500&page=${page}`);
    for (const e of results(body)) names.add(e.department);
    if (!body.next) break;
  }
  state.departments = [...names].sort();
  return state.departments;
}

function departmentSelect(id, names, { any = true } = {}) {
  return h('select', { id },
    any ? h('option', { value: '' }, 'All departments') : null,
    names.map((d) => h('option', { value: d }, d)));
}

// ---------- dashboard ----------

async function dashboardPage(root) {
  const today = siteDate();
  const rows = new Map();
  const countsBox = h('div', { class: 'counts', id: 'counts' });
  const chartBox = h('div', { id: 'status-chart' });
  const feed = h('ul', { id: 'feed', 'aria-live': 'polite' });
  const trendBox = h('div', { id: 'trend' }, h('p', { class: 'muted' }, 'Loading the week…'));
  root.append(
    h('p', { class: 'muted' }, `Today, ${today}`),
    countsBox,
    h('div', { class: 'grid2' },
      h('div', { class: 'card' }, h('h2', null, 'By status'), chartBox),
      h('div', { class: 'card' }, h('h2', null, 'Live feed'), feed,
        h('p', { class: 'muted', id: 'feed-empty' }, 'Scans and recomputed days appear here as they arrive.'))),
    h('div', { class: 'card' }, h('h2', null, 'Last seven days'), trendBox),
  );
  let machinesBox = null;
  if (isHr()) {
    machinesBox = h('div', { id: 'dashboard-machines' });
    root.append(h('div', { class: 'card' }, h('h2', null, 'Machines'), machinesBox));
  }

  const drawCounts = () => {
    const counts = Object.fromEntries(STATUS_GROUPS.map((g) => [g.key, 0]));
    for (const r of rows.values()) counts[statusGroup(r.status).key] += 1;
    const shown = STATUS_GROUPS.slice(0, 6);
    countsBox.replaceChildren(...shown.map((g) =>
      h('div', { class: `count st-${g.key}`, id: `count-${g.key}` },
        h('span', { class: 'n' }, counts[g.key]), h('span', { class: 'l' }, g.label))));
    chartBox.replaceChildren(barChart(shown.map((g) => ({ label: g.label, value: counts[g.key], colour: COLOURS[g.key] }))));
  };

  const summary = await api(`/api/attendance/daily-attendance/summary/?date=${today}`);
  for (const r of summary) rows.set(r.employee_id, r);
  drawCounts();
  // An employee's own day, in words, above the figures.
  const own = state.user.employee_id;
  const ownDay = h('p', { id: 'own-day' });
  const drawOwn = () => {
    const r = own && rows.get(own);
    if (!r) return;
    ownDay.replaceChildren('Your day: ', badge(r.status), ` · in ${r.check_in || '—'} · out ${r.check_out || '—'} · ${fmtHours(r.working_hours)} h`);
  };
  if (state.user.role === 'employee') {
    countsBox.before(ownDay);
    drawOwn();
  }

  const addFeed = (text, employee) => {
    $('#feed-empty', root)?.remove();
    const now = new Date();
    feed.prepend(h('li', { dataset: { employee: employee || '' } },
      h('time', { datetime: now.toISOString() }, siteTime(now)), text));
    while (feed.children.length > 50) feed.lastChild.remove();
  };

  const refreshMachines = async () => {
    if (!machinesBox) return;
    const list = results(await api('/api/attendance/machines/?page_size=500'));
    machinesBox.replaceChildren(machineTable(list, false));
  };

  const stop = listen((ev) => {
    const d = ev.data || {};
    if (ev.type === 'scan_received') {
      const who = d.employee_id ? `${d.employee_id} ${d.employee_name || ''}`.trim() : `device user ${d.device_user_id}`;
      addFeed(`Scan: ${who} on ${d.machine_id} at ${siteTime(d.timestamp)} (${d.punch_state ?? ''})`, d.employee_id);
    } else if (ev.type === 'attendance_updated') {
      addFeed(`Day recomputed: ${d.employee_id} ${d.employee_name || ''} ${d.date} → ${d.status}`, d.employee_id);
      if (d.date === today) {
        rows.set(d.employee_id, d);
        drawCounts();
        drawOwn();
      }
    } else if (ev.type === 'machine_connected' || ev.type === 'machine_disconnected') {
      addFeed(`Machine ${d.machine_id} ${ev.type === 'machine_connected' ? 'connected' : `disconnected${d.reason ? `: ${d.reason}` : ''}`}`);
      refreshMachines().catch(() => {});
    } else if (ev.type === 'error_occurred') {
      addFeed(`Error (${d.source}, ${d.kind}): ${d.message || ''}`);
    }
  });

  await refreshMachines().catch((e) => message(e.message, true));
  // The week's trend: one statistics call per day.
  const days = [...Array(7).keys()].map((i) => addDays(today, i - 6));
  const stats = await Promise.all(days.map((d) => api(`/api/attendance/statistics/?date=${d}`).catch(() => null)));
  trendBox.replaceChildren(trendChart(days, stats));
  return stop;
}

function barChart(items) {
  const w = 420; const rowH = 26; const left = 100; const hgt = items.length * rowH + 10;
  const max = Math.max(1, ...items.map((i) => i.value));
  const svg = s('svg', { viewBox: `0 0 ${w} ${hgt}`, class: 'chart', role: 'img', 'aria-label': items.map((i) => `${i.label} ${i.value}`).join(', ') });
  items.forEach((item, n) => {
    const y = 5 + n * rowH;
    const bw = ((w - left - 50) * item.value) / max;
    svg.append(
      s('text', { x: 0, y: y + 16 }, item.label),
      s('rect', { x: left, y: y + 3, width: Math.max(bw, 1), height: rowH - 8, fill: item.colour, rx: 3 }),
      s('text', { x: left + bw + 6, y: y + 16 }, item.value),
    );
  });
  return svg;
}

function trendChart(days, stats) {
  const series = [
    { key: 'ontime', label: 'Present (not late)', pick: (st) => st.present - st.late },
    { key: 'late', label: 'Late', pick: (st) => st.late },
    { key: 'leave', label: 'On leave', pick: (st) => st.on_leave },
    { key: 'absent', label: 'Absent', pick: (st) => st.absent },
  ];
  const w = 620; const hgt = 220; const left = 36; const bottom = 30; const top = 10;
  const totals = stats.map((st) => (st ? series.reduce((a, se) => a + Math.max(0, se.pick(st)), 0) : 0));
  const max = Math.max(1, ...totals);
  const slot = (w - left) / days.length;
  const label = days.map((d, i) => {
    const st = stats[i];
    return st ? `${d}: ${series.map((se) => `${se.label} ${Math.max(0, se.pick(st))}`).join(', ')}` : `${d}: no data`;
  }).join('; ');
  const svg = s('svg', { viewBox: `0 0 ${w} ${hgt + 24}`, class: 'chart', role: 'img', 'aria-label': label });
  svg.append(s('line', { x1: left, y1: hgt - bottom, x2: w, y2: hgt - bottom, stroke: '#aab3bf' }));
  svg.append(s('text', { x: 0, y: top + 8 }, max));
  days.forEach((d, i) => {
    const st = stats[i];
    let y = hgt - bottom;
    const x = left + i * slot + slot * 0.2;
    if (st) {
      for (const se of series) {
        const v = Math.max(0, se.pick(st));
        const bh = ((hgt - bottom - top) * v) / max;
        y -= bh;
        svg.append(s('rect', { x, y, width: slot * 0.6, height: bh, fill: COLOURS[se.key] }, s('title', null, `${d} ${se.label}: ${v}`)));
      }
    }
    svg.append(s('text', { x: x, y: hgt - bottom + 16 }, d.slice(5)));
  });
  series.forEach((se, i) => {
    const x = left + i * 140;
    svg.append(s('rect', { x, y: hgt + 6, width: 12, height: 12, fill: COLOURS[se.key] }), s('text', { x: x + 16, y: hgt + 16 }, se.label));
  });
  return svg;
}

// ---------- daily attendance ----------

function dailyRow(r) {
  const scans = (r.scans || []).map((sc) => `${sc.time} ${sc.type}`).join(', ');
  return h('tr', { dataset: { employee: r.employee_id, date: r.date } },
    h('td', null, r.employee_id), h('td', null, r.employee_name), h('td', null, r.department),
    h('td', { class: 'num' }, r.check_in || '—'), h('td', { class: 'num' }, r.check_out || '—'),
    h('td', { class: 'num' }, fmtHours(r.working_hours)), h('td', { class: 'num' }, fmtHours(r.overtime)),
    h('td', { class: 'num' }, fmtHours(r.extra_overtime)),
    h('td', { class: 'status' }, badge(r.status), r.override ? h('span', { class: 'muted' }, ' (set by hand)') : null),
    h('td', { class: 'scans' }, `${r.attendance_count}`, scans ? ` · ${scans}` : ''));
}

async function dailyPage(root) {
  const date = h('input', { id: 'daily-date', type: 'date', value: siteDate(), required: true });
  const scoped = state.user.role === 'employee';
  const names = scoped ? [] : await departments();
  const dept = scoped ? null : departmentSelect('daily-department', names);
  const tbody = h('tbody');
  const count = h('p', { class: 'muted', id: 'daily-count' });
  const load = async () => {
    const q = new URLSearchParams({ date: date.value });
    if (dept && dept.value) q.set('department', dept.value);
    const list = await api(`/api/attendance/daily-attendance/summary/?${q}`);
    tbody.replaceChildren(...list.map(dailyRow));
    count.textContent = `${list.length} ${list.length === 1 ? 'employee' : 'employees'}`;
  };
  root.append(
    h('form', { class: 'controls', onsubmit: (e) => { e.preventDefault(); attempt(load); } },
      field('Date', date), dept ? field('Department', dept) : null,
      h('button', { type: 'submit' }, 'Show')),
    legend(), count,
    h('div', { class: 'table-wrap' }, h('table', { id: 'daily-table' },
      h('thead', null, h('tr', null, ['Employee', 'Name', 'Department', 'Check in', 'Check out', 'Hours', 'Overtime', 'Extra OT', 'Status', 'Scans']
        .map((t, i) => h('th', { scope: 'col', class: i >= 3 && i <= 7 ? 'num' : null }, t)))),
      tbody)));
  date.addEventListener('change', () => attempt(load));
  dept?.addEventListener('change', () => attempt(load));
  await load();
  return listen((ev) => {
    if (ev.type !== 'attendance_updated') return;
    const r = ev.data;
    if (!r || r.date !== date.value || (dept && dept.value && r.department !== dept.value)) return;
    const row = dailyRow(r);
    row.classList.add('flash');
    const old = [...tbody.children].find((tr) => tr.dataset.employee === r.employee_id);
    if (old) old.replaceWith(row);
    else tbody.append(row);
  });
}

function legend() {
  return h('div', { class: 'legend', 'aria-label': 'Status legend' },
    STATUS_GROUPS.map((g) => h('span', null, h('span', { class: `cell st-${g.key}` }, g.code), ` ${g.label}`)));
}

// ---------- timesheet ----------

async function timesheetPage(root) {
  const u = state.user;
  const month = h('input', { id: 'timesheet-month', type: 'month', value: siteDate().slice(0, 7), required: true });
  const scope = h('select', { id: 'timesheet-scope' });
  if (u.employee_id) scope.append(h('option', { value: `employee:${u.employee_id}` }, `Me (${u.employee_id})`));
  if (u.role !== 'employee') {
    for (const d of await departments()) scope.append(h('option', { value: `department:${d}` }, `Department: ${d}`));
  }
  const other = u.role === 'employee' ? null : h('input', { id: 'timesheet-employee', placeholder: 'EMP001', size: 10 });
  const out = h('div', { id: 'timesheet' });
  const query = (format) => {
    const q = new URLSearchParams({ month: month.value });
    const [kind, value] = (other && other.value.trim() ? `employee:${other.value.trim()}` : scope.value).split(/:(.*)/s);
    q.set(kind === 'employee' ? 'employee_id' : 'department', value);
    if (format) q.set('format', format);
    return q;
  };
  const load = async () => {
    if (!scope.value && !(other && other.value.trim())) {
      out.replaceChildren(h('p', { class: 'muted' }, 'Choose an employee or a department.'));
      return;
    }
    const body = await api(`/api/attendance/timesheet/?${query()}`);
    out.replaceChildren(Array.isArray(body) ? timesheetGrid(body, month.value) : timesheetDays(body));
  };
  const report = (format) => {
    const q = new URLSearchParams({ month: month.value, format });
    const t = query();
    if (t.has('employee_id')) q.set('employee_id', t.get('employee_id'));
    if (t.has('department')) q.set('department', t.get('department'));
    return attempt(() => download(`/api/attendance/reports/monthly/?${q}`));
  };
  root.append(
    h('form', { class: 'controls', onsubmit: (e) => { e.preventDefault(); attempt(load); } },
      field('Month', month), field('Who', scope), other ? field('or employee ID', other) : null,
      h('button', { type: 'submit' }, 'Show')),
    h('div', { class: 'actions', role: 'group', 'aria-label': 'Exports' },
      h('button', { type: 'button', class: 'secondary', id: 'export-report-csv', onclick: () => report('csv') }, 'Monthly report (CSV)'),
      h('button', { type: 'button', class: 'secondary', id: 'export-report-xlsx', onclick: () => report('xlsx') }, 'Monthly report (XLSX)'),
      h('button', { type: 'button', class: 'secondary', id: 'export-timesheet-csv', onclick: () => attempt(() => download(`/api/attendance/timesheet/?${query('csv')}`)) }, 'Timesheet (CSV)'),
      h('button', { type: 'button', class: 'secondary', id: 'export-timesheet-xlsx', onclick: () => attempt(() => download(`/api/attendance/timesheet/?${query('xlsx')}`)) }, 'Timesheet (XLSX)')),
    legend(), out);
  month.addEventListener('change', () => attempt(load));
  scope.addEventListener('change', () => attempt(load));
  await load();
  return listen((ev) => {
    if (ev.type !== 'attendance_updated' || !ev.data || !ev.data.date?.startsWith(month.value)) return;
    const cell = document.querySelector(`#timesheet [data-employee="${CSS.escape(ev.data.employee_id)}"][data-date="${ev.data.date}"] .status`);
    if (cell) cell.replaceChildren(cell.closest('table.grid') ? gridCell(ev.data.status, ev.data.date) : badge(ev.data.status));
  });
}

function totalsLine(t) {
  return [
    ['Present', t.present_days], ['Late', t.late_days], ['Absent', t.absent_days], ['Leave', t.leave_days],
    ['Hours', fmtHours(t.working_hours)], ['Overtime', fmtHours(t.overtime)], ['Extra OT', fmtHours(t.extra_overtime)],
  ];
}

function timesheetDays(sheet) {
  const t = sheet.totals || {};
  return h('div', null,
    h('p', null, h('strong', null, `${sheet.employee_id} ${sheet.employee_name}`), ` · ${sheet.department} · ${sheet.month}`),
    h('div', { class: 'counts' }, totalsLine(t).map(([l, v]) => h('div', { class: 'count' }, h('span', { class: 'n' }, v), h('span', { class: 'l' }, l)))),
    h('div', { class: 'table-wrap' }, h('table', null,
      h('thead', null, h('tr', null, ['Date', 'Status', 'Check in', 'Check out', 'Hours', 'Overtime', 'Extra OT']
        .map((x, i) => h('th', { scope: 'col', class: i >= 2 ? 'num' : null }, x)))),
      h('tbody', null, sheet.days.map((d) => h('tr', { dataset: { employee: sheet.employee_id, date: d.date } },
        h('td', null, d.date), h('td', { class: 'status' }, badge(d.status)),
        h('td', { class: 'num' }, d.checkIn || '—'), h('td', { class: 'num' }, d.checkOut || '—'),
        h('td', { class: 'num' }, fmtHours(d.workingHours)), h('td', { class: 'num' }, fmtHours(d.overtime)),
        h('td', { class: 'num' }, fmtHours(d.extraOvertime))))))));
}

function gridCell(status, date) {
  const g = statusGroup(status);
  return h('span', { class: `cell st-${g.key}`, title: `${date}: ${status}`, 'aria-label': status, dataset: { status } }, g.code);
}

function timesheetGrid(sheets, month) {
  if (!sheets.length) return h('p', { class: 'muted' }, 'No employees.');
  const days = sheets[0].days.map((d) => d.date);
  return h('div', null, h('p', { class: 'muted' }, `${month}: ${sheets.length} employees`), h('div', { class: 'table-wrap' }, h('table', { class: 'grid' },
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Employee'),
      days.map((d) => h('th', { scope: 'col', class: 'num' }, d.slice(8))),
      totalsLine({}).map(([l]) => h('th', { scope: 'col', class: 'num' }, l)))),
    h('tbody', null, sheets.map((sh) => h('tr', null,
      h('th', { scope: 'row' }, `${sh.employee_id} ${sh.employee_name}`),
      sh.days.map((d) => h('td', { class: 'num', dataset: { employee: sh.employee_id, date: d.date } },
        h('span', { class: 'status' }, gridCell(d.status, d.date)))),
      totalsLine(sh.totals || {}).map(([, v]) => h('td', { class: 'num' }, v))))))));
}

// ---------- leave ----------

async function leavePage(root) {
  const u = state.user;
  const policies = results(await api('/api/attendance/leave-policies/'));
  const mine = h('div', { id: 'leave-mine' });
  const queue = h('div', { id: 'leave-queue' });
  const balances = h('div', { id: 'leave-balances' });

  const type = h('select', { id: 'leave-type', required: true }, policies.map((p) => h('option', { value: p.leave_type }, p.leave_type)));
  const start = h('input', { id: 'leave-start', type: 'date', required: true, value: siteDate() });
  const end = h('input', { id: 'leave-end', type: 'date', required: true, value: siteDate() });
  const startHalf = h('input', { id: 'leave-start-half', type: 'checkbox' });
  const endHalf = h('input', { id: 'leave-end-half', type: 'checkbox' });
  const priority = h('select', { id: 'leave-priority' }, ['normal', 'low', 'high', 'urgent'].map((p) => h('option', { value: p }, p)));
  const reason = h('textarea', { id: 'leave-reason', maxlength: 1000 });
  const doc = h('input', { id: 'leave-document', type: 'file', accept: 'application/pdf,image/jpeg,image/png' });
  const forWhom = u.role === 'employee' ? null
    : h('input', { id: 'leave-employee', placeholder: u.employee_id || 'EMP001', size: 10, required: !u.employee_id });

  const submit = async (e) => {
    e.preventDefault();
    const body = {
      leave_type: type.value, start_date: start.value, end_date: end.value,
      start_half: startHalf.checked, end_half: endHalf.checked, reason: reason.value,
      priority: priority.value, medical_certificate: doc.files.length > 0,
    };
    if (forWhom && forWhom.value.trim()) body.employee_id = forWhom.value.trim();
    await attempt(async () => {
      const created = await api('/api/attendance/leave-requests/', { method: 'POST', json: body });
      const file = doc.files[0];
      if (file) {
        const q = new URLSearchParams({ filename: file.name });
        await api(`/api/attendance/leave-requests/${encodeURIComponent(created.id)}/documents/?${q}`,
          { method: 'POST', body: file, contentType: file.type || 'application/octet-stream' });
      }
      reason.value = '';
      doc.value = '';
      await refresh();
      message(`Leave requested: ${created.leave_type}, ${created.start_date} to ${created.end_date} (${created.days} days), ${created.status}.`);
    });
  };

  const decide = async (id, action, note) => attempt(async () => {
    const r = await api(`/api/attendance/leave-requests/${encodeURIComponent(id)}/${action}/`, { method: 'POST', json: { note: note || null } });
    await refresh();
    message(`Request ${r.employee_id} ${r.leave_type} ${r.start_date}: ${r.status}${r.next_level ? `, next: ${r.next_level.replace('_', ' ')}` : ''}.`);
  });

  const requestTable = (list, { decideButtons, cancelButtons }) => {
    if (!list.length) return h('p', { class: 'muted' }, 'None.');
    return h('div', { class: 'table-wrap' }, h('table', null,
      h('thead', null, h('tr', null, ['Employee', 'Type', 'From', 'To', 'Days', 'Status', 'Waiting for', 'Reason', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, list.map((r) => {
        const note = h('input', { class: 'note', 'aria-label': `Comment on ${r.employee_id}'s request`, placeholder: 'Comment', size: 14 });
        return h('tr', { dataset: { id: r.id, employee: r.employee_id } },
          h('td', null, r.employee_id), h('td', null, r.leave_type), h('td', null, r.start_date), h('td', null, r.end_date),
          h('td', { class: 'num' }, r.days), h('td', { class: 'status' }, r.status), h('td', null, r.next_level ? r.next_level.replace('_', ' ') : '—'),
          h('td', { class: 'wrap' }, r.reason),
          h('td', null, h('div', { class: 'actions' },
            decideButtons ? [note,
              h('button', { type: 'button', class: 'approve', onclick: () => decide(r.id, 'approve', note.value) }, 'Approve'),
              h('button', { type: 'button', class: 'reject danger', onclick: () => decide(r.id, 'reject', note.value) }, 'Reject')] : null,
            cancelButtons && (r.status === 'pending' || r.status === 'approved')
              ? h('button', { type: 'button', class: 'cancel secondary', onclick: () => decide(r.id, 'cancel', '') }, 'Cancel') : null)));
      }))));
  };

  const refresh = async () => {
    const all = [];
    for (let page = 1; page <= 10; page++) {
      const body = await api(`/api/attendance/leave-requests/?page_size=500&page=${page}`);
      all.push(...results(body));
      if (!body.next) break;
    }
    const own = all.filter((r) => u.employee_id && r.employee_id === u.employee_id);
    mine.replaceChildren(requestTable(own, { cancelButtons: true }));
    if (u.role !== 'employee') {
      const pending = all.filter((r) => r.status === 'pending' && (r.employee_id !== u.employee_id || u.role === 'super_admin'));
      const decided = all.filter((r) => r.status !== 'pending' && r.employee_id !== u.employee_id);
      queue.replaceChildren(requestTable(pending, { decideButtons: true }),
        h('h2', null, 'Decided in your scope'), requestTable(decided.slice(0, 100), { cancelButtons: isHr() }));
    }
    if (u.employee_id) {
      const sheet = await api(`/api/attendance/leave-balances/?employee_id=${encodeURIComponent(u.employee_id)}`);
      balances.replaceChildren(h('div', { class: 'table-wrap' }, h('table', null,
        h('thead', null, h('tr', null, ['Type', 'Allocated', 'Used', 'Pending', 'Available'].map((t, i) => h('th', { scope: 'col', class: i ? 'num' : null }, t)))),
        h('tbody', null, sheet.balances.map((b) => h('tr', { dataset: { type: b.leave_type } }, h('td', null, b.leave_type),
          h('td', { class: 'num' }, b.allocated), h('td', { class: 'num' }, b.used), h('td', { class: 'num' }, b.pending), h('td', { class: 'num' }, b.available)))))));
    } else {
      balances.replaceChildren(h('p', { class: 'muted' }, 'Your login is not linked to an employee.'));
    }
  };

  root.append(
    h('div', { class: 'card' }, h('h2', null, 'Apply for leave'),
      h('form', { class: 'row', id: 'leave-form', onsubmit: submit },
        forWhom ? field(u.employee_id ? 'Employee (empty: me)' : 'Employee', forWhom) : null,
        field('Type', type), field('From', start), field('To', end),
        check('Starts at midday', startHalf), check('Ends at midday', endHalf),
        field('Priority', priority), field('Reason', reason), field('Document (PDF, JPEG or PNG)', doc),
        h('button', { type: 'submit', id: 'leave-submit' }, 'Apply'))),
    u.role !== 'employee' ? h('div', { class: 'card' }, h('h2', null, 'Waiting for a decision'), queue) : null,
    u.employee_id ? h('div', { class: 'card' }, h('h2', null, 'My requests'), mine) : null,
    u.employee_id ? h('div', { class: 'card' }, h('h2', null, 'My balances'), balances) : null);
  await refresh();
  return null;
}

// ---------- holidays ----------

async function holidaysPage(root) {
  const list = h('div', { id: 'holidays-list' });
  const name = h('input', { id: 'holiday-name', required: true });
  const start = h('input', { id: 'holiday-start', type: 'date', required: true });
  const end = h('input', { id: 'holiday-end', type: 'date' });
  const kind = h('select', { id: 'holiday-type' }, ['public', 'company', 'optional'].map((t) => h('option', { value: t }, t)));
  const recurring = h('input', { id: 'holiday-recurring', type: 'checkbox' });
  const observed = h('input', { id: 'holiday-observed', type: 'checkbox', checked: true });
  const submitButton = h('button', { type: 'submit', id: 'holiday-submit' }, 'Add holiday');
  let editing = null;
  const reset = () => {
    editing = null;
    name.value = ''; start.value = ''; end.value = ''; kind.value = 'public'; recurring.checked = false; observed.checked = true;
    submitButton.textContent = 'Add holiday';
  };
  const load = async () => {
    const all = results(await api('/api/attendance/holidays/?page_size=500'));
    list.replaceChildren(all.length ? h('div', { class: 'table-wrap' }, h('table', null,
      h('thead', null, h('tr', null, ['Name', 'From', 'To', 'Type', 'Yearly', 'Day off', isHr() ? 'Actions' : null].filter(Boolean).map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, all.map((x) => h('tr', { dataset: { id: x.id } },
        h('td', { class: 'wrap' }, x.name), h('td', null, x.start), h('td', null, x.end), h('td', null, x.holiday_type),
        h('td', null, x.recurring_yearly ? 'yes' : 'no'), h('td', null, x.observed ? 'yes' : 'no'),
        isHr() ? h('td', null, h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'secondary', onclick: () => {
            editing = x.id; name.value = x.name; start.value = x.start; end.value = x.end; kind.value = x.holiday_type;
            recurring.checked = x.recurring_yearly; observed.checked = x.observed; submitButton.textContent = 'Save holiday'; name.focus();
          } }, 'Edit'),
          h('button', { type: 'button', class: 'danger', onclick: () => attempt(async () => {
            await api(`/api/attendance/holidays/${x.id}/`, { method: 'DELETE' }); await load();
          }, `Deleted ${x.name}.`) }, 'Delete'))) : null))))) : h('p', { class: 'muted' }, 'No holidays.'));
  };
  if (isHr()) {
    root.append(h('div', { class: 'card' }, h('h2', null, 'Add or edit a holiday'),
      h('form', { class: 'row', id: 'holiday-form', onsubmit: (e) => {
        e.preventDefault();
        const body = { name: name.value, start_date: start.value, end_date: end.value || start.value, holiday_type: kind.value, is_recurring: recurring.checked, is_observed: observed.checked };
        const what = editing ? 'Saved' : 'Added';
        attempt(async () => {
          await api(editing ? `/api/attendance/holidays/${editing}/` : '/api/attendance/holidays/', { method: editing ? 'PUT' : 'POST', json: body });
          reset();
          await load();
        }, `${what} ${body.name}.`);
      } },
      field('Name', name), field('From', start), field('To (empty: one day)', end), field('Type', kind),
      check('Every year', recurring), check('Day off', observed), submitButton,
      h('button', { type: 'button', class: 'secondary', onclick: reset }, 'Clear'))));
  }
  root.append(list);
  await load();
  return null;
}

// ---------- leave policies ----------

async function policiesPage(root) {
  const list = h('div', { id: 'policies-list' });
  const inputs = {
    leave_type: h('input', { id: 'policy-type', required: true }),
    max_per_year: h('input', { id: 'policy-max', type: 'number', step: '0.5', min: 0, placeholder: 'no limit' }),
    max_carry_forward: h('input', { id: 'policy-carry', type: 'number', step: '0.5', min: 0, value: 0 }),
    certificate_required_above: h('input', { id: 'policy-certificate', type: 'number', step: '0.5', min: 0 }),
    max_consecutive: h('input', { id: 'policy-consecutive', type: 'number', step: '0.5', min: 0.5 }),
    off_days: h('select', { id: 'policy-off-days' }, ['excluded', 'sandwiched', 'counted'].map((t) => h('option', { value: t }, t))),
    approval: h('select', { id: 'policy-approval' }, ['head_then_hr', 'hr_only', 'head_only'].map((t) => h('option', { value: t }, t.replaceAll('_', ' ')))),
    requires_approval: h('input', { type: 'checkbox', id: 'policy-requires-approval', checked: true }),
    half_days_allowed: h('input', { type: 'checkbox', id: 'policy-half-days', checked: true }),
    pro_rata: h('input', { type: 'checkbox', id: 'policy-pro-rata' }),
  };
  let known = new Set();
  const num = (el) => (el.value === '' ? null : Number(el.value));
  const load = async () => {
    const all = results(await api('/api/attendance/leave-policies/'));
    known = new Set(all.map((p) => p.leave_type));
    list.replaceChildren(h('div', { class: 'table-wrap' }, h('table', null,
      h('thead', null, h('tr', null, ['Type', 'Days a year', 'Carry forward', 'Certificate above', 'Longest', 'Off days', 'Half days', 'Pro rata', 'Approval', isHr() ? 'Actions' : null]
        .filter(Boolean).map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, all.map((p) => h('tr', { dataset: { type: p.leave_type } },
        h('td', null, p.leave_type, p.is_default ? h('span', { class: 'muted' }, ' (default)') : null),
        h('td', { class: 'num' }, p.max_per_year ?? 'no limit'), h('td', { class: 'num' }, p.max_carry_forward),
        h('td', { class: 'num' }, p.certificate_required_above ?? '—'), h('td', { class: 'num' }, p.max_consecutive ?? '—'),
        h('td', null, p.off_days), h('td', null, p.half_days_allowed ? 'yes' : 'no'), h('td', null, p.pro_rata ? 'yes' : 'no'),
        h('td', null, p.requires_approval ? p.approval.replaceAll('_', ' ') : 'none'),
        isHr() ? h('td', null, h('button', { type: 'button', class: 'secondary', onclick: () => {
          for (const [k, el] of Object.entries(inputs)) {
            if (el.type === 'checkbox') el.checked = !!p[k];
            else el.value = p[k] ?? '';
          }
          inputs.leave_type.focus();
        } }, 'Edit')) : null))))));
  };
  if (isHr()) {
    root.append(h('div', { class: 'card' }, h('h2', null, 'Add or edit a policy'),
      h('form', { class: 'row', id: 'policy-form', onsubmit: (e) => {
        e.preventDefault();
        const t = inputs.leave_type.value.trim();
        const body = {
          leave_type: t, max_per_year: num(inputs.max_per_year), max_carry_forward: num(inputs.max_carry_forward) ?? 0,
          certificate_required_above: num(inputs.certificate_required_above), max_consecutive: num(inputs.max_consecutive),
          off_days: inputs.off_days.value, approval: inputs.approval.value, requires_approval: inputs.requires_approval.checked,
          half_days_allowed: inputs.half_days_allowed.checked, pro_rata: inputs.pro_rata.checked,
        };
        const exists = known.has(t);
        attempt(async () => {
          await api(exists ? `/api/attendance/leave-policies/${encodeURIComponent(t)}/` : '/api/attendance/leave-policies/', { method: exists ? 'PUT' : 'POST', json: body });
          await load();
        }, `Saved the ${t} policy.`);
      } },
      field('Leave type', inputs.leave_type), field('Days a year', inputs.max_per_year), field('Carry forward at most', inputs.max_carry_forward),
      field('Certificate above (days)', inputs.certificate_required_above), field('Longest leave (days)', inputs.max_consecutive),
      field('Off days inside', inputs.off_days), field('Approval', inputs.approval),
      check('Needs approval', inputs.requires_approval), check('Half days', inputs.half_days_allowed), check('Pro rata', inputs.pro_rata),
      h('button', { type: 'submit', id: 'policy-submit' }, 'Save policy'))));
  }
  root.append(list);
  await load();
  return null;
}

// ---------- machines ----------

function machineTable(list, withActions, onEdit, onTest) {
  if (!list.length) return h('p', { class: 'muted' }, 'No machines.');
  return h('div', { class: 'table-wrap' }, h('table', { id: withActions ? 'machines-table' : null },
    h('thead', null, h('tr', null, ['Machine', 'Name', 'Type', 'Where', 'State', 'Last contact', 'Scans today', 'Clock drift', 'Last error', withActions ? 'Actions' : null]
      .filter(Boolean).map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, list.map((m) => {
      const health = m.health || {};
      const live = health.live ?? m.is_connected;
      const stateText = m.enabled ? (health.state || m.status || 'unknown') : 'disabled';
      const last = health.last_seen || m.last_sync;
      return h('tr', { dataset: { machine: m.machine_id } },
        h('td', null, m.machine_id), h('td', null, m.name), h('td', null, m.machine_type),
        h('td', null, [m.location, m.department].filter(Boolean).join(' · ') || '—'),
        h('td', { class: 'state' }, h('span', { class: `badge ${live ? 'st-ontime' : m.enabled ? 'st-absent' : 'st-weekend'}` }, live ? `${stateText} (live)` : stateText)),
        h('td', null, last ? `${siteDate(new Date(last))} ${siteTime(last)}` : 'never'),
        h('td', { class: 'num' }, health.scans_today ?? '—'),
        h('td', { class: 'num' }, m.clock_drift_seconds == null ? '—' : `${m.clock_drift_seconds} s`),
        h('td', { class: 'wrap' }, m.last_error || health.last_error || '—'),
        withActions ? h('td', null, h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'secondary', onclick: () => onEdit(m) }, 'Edit'),
          h('button', { type: 'button', class: 'test', onclick: () => onTest(m) }, 'Test connection'))) : null);
    }))));
}

async function machinesPage(root) {
  const list = h('div', { id: 'machines-list' });
  const report = h('div', { id: 'machine-test', 'aria-live': 'polite' });
  const f = {
    machine_id: h('input', { id: 'machine-id', required: true }),
    name: h('input', { id: 'machine-name', required: true }),
    machine_type: h('select', { id: 'machine-type' }, ['zkteco', 'zkteco_adms', 'hikvision', 'suprema', 'generic_tcp', 'simulated'].map((t) => h('option', { value: t }, t))),
    ip_address: h('input', { id: 'machine-ip' }),
    port: h('input', { id: 'machine-port', type: 'number', min: 1, max: 65535 }),
    location: h('input', { id: 'machine-location' }),
    department: h('input', { id: 'machine-department' }),
    time_zone: h('input', { id: 'machine-tz', placeholder: 'the site\'s' }),
    config: h('textarea', { id: 'machine-config', placeholder: '{"timeout_ms": 3000}' }),
    enabled: h('input', { id: 'machine-enabled', type: 'checkbox', checked: true }),
  };
  let editing = null;
  const load = async () => {
    const all = results(await api('/api/attendance/machines/?page_size=500'));
    list.replaceChildren(machineTable(all, true, (m) => {
      editing = m.machine_id;
      for (const [k, el] of Object.entries(f)) {
        if (k === 'config') el.value = m.config ? JSON.stringify(m.config) : '';
        else if (el.type === 'checkbox') el.checked = !!m[k];
        else el.value = m[k] ?? '';
      }
      f.machine_id.disabled = true;
      f.name.focus();
    }, (m) => attempt(async () => {
      report.textContent = `Testing ${m.machine_id}…`;
      const r = await api(`/api/attendance/machines/${encodeURIComponent(m.machine_id)}/test/`, { method: 'POST' });
      report.replaceChildren(h('p', null, h('strong', null, `${r.machine_id}: ${r.success ? 'connection works' : 'connection failed'}`),
        ` · reachable ${r.reachable ? 'yes' : 'no'} · authenticated ${r.authenticated ? 'yes' : 'no'}`,
        r.serial ? ` · serial ${r.serial}` : '', r.firmware ? ` · firmware ${r.firmware}` : '',
        r.clock_drift_seconds != null ? ` · clock drift ${r.clock_drift_seconds} s` : '',
        r.record_count != null ? ` · ${r.record_count} records` : '', r.error ? ` · ${typeof r.error === 'string' ? r.error : r.error.message || JSON.stringify(r.error)}` : ''));
      await load();
    })));
  };
  const reset = () => {
    editing = null;
    for (const el of Object.values(f)) {
      if (el.type === 'checkbox') el.checked = true;
      else if (el.tagName === 'SELECT') el.selectedIndex = 0;
      else el.value = '';
    }
    f.machine_id.disabled = false;
  };
  root.append(h('div', { class: 'card' }, h('h2', null, 'Add or edit a machine'),
    h('form', { class: 'row', id: 'machine-form', onsubmit: (e) => {
      e.preventDefault();
      let config = null;
      if (f.config.value.trim()) {
        try {
          config = JSON.parse(f.config.value);
        } catch {
          message('The protocol settings must be JSON, e.g. {"timeout_ms": 3000}.', true);
          return;
        }
      }
      const body = {
        machine_id: editing || f.machine_id.value.trim(), name: f.name.value, machine_type: f.machine_type.value,
        ip_address: f.ip_address.value, port: f.port.value ? Number(f.port.value) : null, location: f.location.value,
        department: f.department.value || null, time_zone: f.time_zone.value || null, enabled: f.enabled.checked, config,
      };
      const path = editing ? `/api/attendance/machines/${encodeURIComponent(editing)}/` : '/api/attendance/machines/';
      attempt(async () => {
        await api(path, { method: editing ? 'PUT' : 'POST', json: body });
        reset();
        await load();
      }, `Saved machine ${body.machine_id}.`);
    } },
    field('Machine ID', f.machine_id), field('Name', f.name), field('Type', f.machine_type), field('Address', f.ip_address),
    field('Port', f.port), field('Location', f.location), field('Department', f.department), field('Time zone', f.time_zone),
    field('Protocol settings (JSON)', f.config), check('Read it', f.enabled),
    h('button', { type: 'submit', id: 'machine-submit' }, 'Save machine'),
    h('button', { type: 'button', class: 'secondary', onclick: reset }, 'Clear'))),
  report, list);
  await load();
  return listen((ev) => {
    if (ev.type === 'machine_connected' || ev.type === 'machine_disconnected') load().catch(() => {});
  });
}

// ---------- users ----------

async function usersPage(root) {
  const list = h('div', { id: 'users-list' });
  const roles = state.user.role === 'super_admin' ? ROLES_ALL : ['employee', 'department_head'];
  const username = h('input', { id: 'user-name', required: true, autocomplete: 'off' });
  const password = h('input', { id: 'user-password', type: 'password', required: true, minlength: 10, autocomplete: 'new-password' });
  const role = h('select', { id: 'user-role' }, roles.map((r) => h('option', { value: r }, r.replace('_', ' '))));
  const employee = h('input', { id: 'user-employee', placeholder: 'EMP001', size: 10 });
  const load = async () => {
    const all = results(await api('/api/auth/users/?page_size=500'));
    list.replaceChildren(h('div', { class: 'table-wrap' }, h('table', null,
      h('thead', null, h('tr', null, ['User', 'Role', 'Employee', 'Active', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, all.map((a) => {
        const pw = h('input', { type: 'password', 'aria-label': `New password for ${a.username}`, minlength: 10, autocomplete: 'new-password', placeholder: 'new password', size: 14 });
        return h('tr', { dataset: { user: a.username } },
          h('td', null, a.username), h('td', null, a.role.replace('_', ' ')), h('td', null, a.employee_id || '—'),
          h('td', null, a.active ? 'yes' : 'no'),
          h('td', null, h('div', { class: 'actions' },
            a.active ? h('button', { type: 'button', class: 'danger', onclick: () => attempt(async () => {
              await api(`/api/auth/users/${encodeURIComponent(a.username)}/`, { method: 'DELETE' }); await load();
            }, `Disabled ${a.username}.`) }, 'Disable') : h('button', { type: 'button', class: 'secondary', onclick: () => attempt(async () => {
              await api(`/api/auth/users/${encodeURIComponent(a.username)}/`, { method: 'PUT', json: { active: true } }); await load();
            }, `Enabled ${a.username}.`) }, 'Enable'),
            pw, h('button', { type: 'button', class: 'secondary', onclick: () => attempt(async () => {
              await api(`/api/auth/users/${encodeURIComponent(a.username)}/`, { method: 'PUT', json: { password: pw.value } });
              pw.value = '';
            }, `Reset the password of ${a.username}.`) }, 'Reset password'))));
      })))));
  };
  root.append(h('div', { class: 'card' }, h('h2', null, 'Add a user'),
    h('form', { class: 'row', id: 'user-form', onsubmit: (e) => {
      e.preventDefault();
      const body = { username: username.value.trim(), password: password.value, role: role.value };
      if (employee.value.trim()) body.employee_id = employee.value.trim();
      attempt(async () => {
        await api('/api/auth/users/', { method: 'POST', json: body });
        username.value = ''; password.value = ''; employee.value = '';
        await load();
      }, `Added ${body.username}.`);
    } },
    field('Username', username), field('Password (10+ characters)', password), field('Role', role), field('Employee (employees and heads)', employee),
    h('button', { type: 'submit', id: 'user-submit' }, 'Add user'))), list);
  await load();
  return null;
}

// ---------- start ----------

$('#signout').addEventListener('click', () => signOut());
window.addEventListener('hashchange', () => { route(); });
if (state.token && state.user) start();
else {
  renderChrome();
  loginPage();
}
