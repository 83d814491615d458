// The Todo UI: plain JavaScript over the frontend's same-origin API (/ui/api/...), the session
// cookie (HttpOnly: this script never sees the token) and the live feed (/ui/ws).
'use strict';

const $ = (id) => document.getElementById(id);
const PAGE = 20;
const state = { session: null, offset: 0, total: 0, editing: null, socket: null, retry: null, live: 0 };

// ---------------------------------------------------------------- back-off
// 0.5 s doubling to 15 s, each delay drawn between half and all of it.
function backoff(attempt) {
  const max = Math.min(15000, 500 * 2 ** attempt);
  return Math.round(max / 2 + Math.random() * max / 2);
}

// ---------------------------------------------------------------- the API
class ApiError extends Error {
  constructor(kind, status, error) {
    super((error && error.message) || kind);
    this.kind = kind; this.status = status; this.error = error || {};
  }
}

async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && state.session) headers['X-CSRF-Token'] = state.session.csrf_token;
  let res;
  try {
    res = await fetch('/ui/api/' + path, {
      method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError('unavailable', 0, { message: 'the server cannot be reached' });
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  const error = data && data.error;
  if (res.status === 401) { signedOut('Your session has ended: sign in again.'); throw new ApiError('signed_out', 401, error); }
  if (res.status >= 502 && res.status <= 504) throw new ApiError('unavailable', res.status, error);
  if (!res.ok) throw new ApiError('error', res.status, error || { message: 'the request failed (' + res.status + ')' });
  return data;
}

// "Unavailable, retrying": a banner while a load fails for want of a service, retried with back-off.
const outage = { attempt: 0, timer: null, jobs: new Map() };
function unavailable(key, err, job) {
  outage.jobs.set(key, job);
  const delay = backoff(outage.attempt++);
  const banner = $('banner');
  const what = (err.error.message || 'a service is unavailable').replace(/[;.,]?\s*retrying shortly\.?$/i, '');
  banner.textContent = what.charAt(0).toUpperCase() + what.slice(1) + '; retrying in ' + Math.ceil(delay / 1000) + ' s…';
  banner.hidden = false;
  clearTimeout(outage.timer);
  outage.timer = setTimeout(() => {
    const jobs = [...outage.jobs.values()];
    outage.jobs.clear();
    jobs.forEach((j) => j());
  }, delay);
}
function available(key) {
  outage.jobs.delete(key);
  if (outage.jobs.size === 0) { outage.attempt = 0; $('banner').hidden = true; clearTimeout(outage.timer); }
}
async function load(key, job) {
  try { await job(); available(key); } catch (err) {
    if (err instanceof ApiError && err.kind === 'unavailable') unavailable(key, err, () => load(key, job));
    else if (!(err instanceof ApiError && err.kind === 'signed_out')) throw err;
  }
}

// ---------------------------------------------------------------- session
async function fetchSession() {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch('/ui/session', { credentials: 'same-origin' });
      if (res.ok) return await res.json();
    } catch (e) { /* the frontend itself is down: retry */ }
    const banner = $('banner');
    banner.textContent = 'The server is unavailable. Retrying…';
    banner.hidden = false;
    await new Promise((r) => setTimeout(r, backoff(attempt)));
  }
}

function showSignIn(session, message) {
  state.session = null;
  closeSocket();
  $('app').hidden = true; $('who').hidden = true; $('signin').hidden = false;
  $('banner').hidden = true;
  const methods = (session && session.sign_in) || { dev: false, oidc: false };
  $('dev-form').hidden = !methods.dev;
  $('oidc-box').hidden = !methods.oidc;
  $('no-signin').hidden = methods.dev || methods.oidc;
  $('signin-message').textContent = message || '';
  if (methods.dev) $('dev-user').focus();
}

async function signedOut(message) {
  if (!state.session) return;
  state.session = null;
  showSignIn(await fetchSession(), message);
}

function showApp(session) {
  state.session = session;
  $('signin').hidden = true; $('app').hidden = false; $('who').hidden = false;
  $('whoami').textContent = session.user_id;
  state.offset = 0;
  refreshAll();
  openSocket(0);
}

$('dev-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors($('dev-form'));
  const user = $('dev-user').value.trim();
  try {
    const res = await fetch('/auth/dev', {
      method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user_id: user }),
    });
    const data = await res.json().catch(() => null);
    if (res.ok) { showApp(data); return; }
    const error = (data && data.error) || { message: 'sign-in failed (' + res.status + ')' };
    showFieldError(error.field === 'user_id' ? 'user_id' : null, error.message, 'signin-message');
  } catch (e) {
    $('signin-message').textContent = 'The server cannot be reached; try again.';
  }
});

$('signout').addEventListener('click', async () => {
  try {
    await fetch('/auth/logout', { method: 'POST', credentials: 'same-origin', headers: { 'X-CSRF-Token': state.session.csrf_token } });
  } catch (e) { /* the cookie goes with the next answer anyway */ }
  state.session = null;
  showSignIn(await fetchSession(), 'Signed out.');
});

// ---------------------------------------------------------------- field errors
function clearErrors(root) {
  root.querySelectorAll('.field-error').forEach((p) => { p.textContent = ''; });
  root.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
}

// Shows `message` beside the field the API named (its longest known prefix), else in `fallback`.
function showFieldError(field, message, fallback) {
  let name = field || '';
  while (name && !$('err-' + name)) name = name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : '';
  const target = name ? $('err-' + name) : $(fallback);
  target.textContent = message;
  if (name) {
    const input = document.querySelector('[aria-describedby~="err-' + CSS.escape(name) + '"]');
    if (input) { input.setAttribute('aria-invalid', 'true'); input.focus(); }
  }
  return target;
}

// ---------------------------------------------------------------- tasks
function localToIso(value) { return value ? new Date(value).toISOString() : null; }
function isoToLocal(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const p = (n) => String(n).padStart(2, '0');
  return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' + p(d.getMinutes());
}
function shown(iso) { return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }); }

function query() {
  const q = new URLSearchParams();
  const set = (k, v) => { if (v !== '' && v !== null && v !== undefined) q.set(k, v); };
  set('completed', $('f-status').value);
  set('priority_id', $('f-priority').value);
  set('tag', $('f-tag').value.trim());
  set('q', $('f-q').value.trim());
  set('due_after', localToIso($('f-due-after').value));
  set('due_before', localToIso($('f-due-before').value));
  set('sort', $('f-sort').value);
  set('order', $('f-order').value);
  q.set('limit', PAGE);
  q.set('offset', state.offset);
  return q.toString();
}

async function loadTasks() {
  $('filters-error').textContent = '';
  let page;
  try { page = await api('GET', 'tasks?' + query()); } catch (err) {
    if (err.kind === 'error' && (err.status === 400 || err.status === 422)) { $('filters-error').textContent = err.message; return; }
    throw err;
  }
  if (page.items.length === 0 && state.offset > 0 && page.total > 0) {
    state.offset = Math.max(0, Math.floor((page.total - 1) / PAGE) * PAGE);
    return loadTasks();
  }
  state.total = page.total;
  renderTasks(page.items);
  const first = page.total === 0 ? 0 : state.offset + 1;
  $('page-info').textContent = first + '–' + (state.offset + page.items.length) + ' of ' + page.total;
  $('prev').disabled = state.offset === 0;
  $('next').disabled = state.offset + page.items.length >= page.total;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function button(label, cls, title, onClick) {
  const b = el('button', cls, label);
  b.type = 'button';
  b.setAttribute('aria-label', label + ': ' + title);
  b.addEventListener('click', onClick);
  return b;
}

function renderTasks(items) {
  const list = $('tasks');
  list.replaceChildren();
  $('tasks-empty').hidden = items.length > 0;
  for (const t of items) {
    const li = el('li', 'task' + (t.completed ? ' done' : ''));
    li.dataset.id = t.id;
    const done = el('input', 'complete');
    done.type = 'checkbox';
    done.checked = t.completed;
    done.disabled = t.completed;
    done.setAttribute('aria-label', 'Complete: ' + t.title);
    done.addEventListener('change', () => act(() => api('POST', 'tasks/' + t.id + '/complete')));
    const title = el('span', 'title', t.title);
    const actions = el('div', 'actions');
    actions.append(
      button('Edit', 'edit', t.title, () => openForm(t)),
      button('History', 'history', t.title, () => openHistory(t)),
      button('Delete', 'delete', t.title, () => { if (confirm('Delete “' + t.title + '”?')) act(() => api('DELETE', 'tasks/' + t.id)); }),
    );
    const meta = el('div', 'meta');
    if (t.due_date) {
      const due = el('time', 'due', 'due ' + shown(t.due_date));
      due.dateTime = t.due_date;
      meta.append(due);
    }
    if (t.priority_id) meta.append(el('span', 'priority', 'priority ' + t.priority_id));
    if (t.recurrence) {
      const r = t.recurrence;
      meta.append(el('span', 'recurrence', 'repeats ' + (r.interval > 1 ? 'every ' + r.interval + ' ' : '') + r.frequency));
    }
    if (t.due_date) meta.append(el('span', 'reminder', 'reminder ' + t.reminder_offset_minutes + ' min before'));
    for (const tag of t.tags || []) meta.append(el('span', 'tag', tag));
    li.append(done, title, actions, meta);
    if (t.description) li.append(el('div', 'desc', t.description));
    list.append(li);
  }
}

// A user's action: done, then the views refreshed; a failure said where it is seen.
async function act(job) {
  try { await job(); } catch (err) {
    if (err.kind === 'unavailable') {
      $('banner').textContent = err.message + ' Nothing was changed; try again.';
      $('banner').hidden = false;
    } else if (err.kind !== 'signed_out') alert(err.message);
  }
  refreshAll();
}

async function loadNotifications() {
  const feed = await api('GET', 'notifications');
  const list = $('notifications');
  list.replaceChildren();
  for (const n of feed.items.slice(0, 20)) {
    const d = n.event.data || {};
    const li = el('li', null, (d.task_title || 'Task ' + d.task_id) + (d.due_date ? ' — due ' + shown(d.due_date) : ''));
    const when = el('time', 'hint', ' (' + shown(n.delivered_at) + ')');
    when.dateTime = n.delivered_at;
    li.append(when);
    list.append(li);
  }
  $('notifications-empty').hidden = feed.items.length > 0;
}

let refreshing = null;
function refreshAll() {
  if (!state.session) return;
  clearTimeout(refreshing);
  refreshing = setTimeout(() => {
    load('tasks', loadTasks);
    load('notifications', loadNotifications);
    if ($('history-dialog').open && state.history) load('history', () => loadHistory(state.history));
  }, 50);
}

['f-status', 'f-priority', 'f-sort', 'f-order', 'f-due-after', 'f-due-before'].forEach((id) =>
  $(id).addEventListener('change', () => { state.offset = 0; refreshAll(); }));
let typing = null;
['f-tag', 'f-q'].forEach((id) => $(id).addEventListener('input', () => {
  clearTimeout(typing);
  typing = setTimeout(() => { state.offset = 0; refreshAll(); }, 250);
}));
$('filters').addEventListener('submit', (ev) => { ev.preventDefault(); state.offset = 0; refreshAll(); });
$('prev').addEventListener('click', () => { state.offset = Math.max(0, state.offset - PAGE); refreshAll(); });
$('next').addEventListener('click', () => { state.offset += PAGE; refreshAll(); });

// ---------------------------------------------------------------- the task form
function openForm(task) {
  state.editing = task || null;
  const form = $('task-form');
  clearErrors(form);
  $('task-dialog-title').textContent = task ? 'Edit task' : 'New task';
  $('t-title').value = task ? task.title : '';
  $('t-description').value = task ? task.description || '' : '';
  $('t-priority').value = task && task.priority_id ? String(task.priority_id) : '';
  $('t-tags').value = task ? (task.tags || []).join(', ') : '';
  $('t-due').value = task ? isoToLocal(task.due_date) : '';
  $('t-reminder').value = task && task.due_date ? String(task.reminder_offset_minutes) : '';
  $('t-frequency').value = task && task.recurrence ? task.recurrence.frequency : '';
  $('t-interval').value = task && task.recurrence ? String(task.recurrence.interval) : '1';
  $('task-dialog').showModal();
  $('t-title').focus();
}

function formBody() {
  const number = (v) => (v === '' ? null : Number(v));
  const tags = $('t-tags').value.split(',').map((s) => s.trim()).filter((s) => s);
  const frequency = $('t-frequency').value;
  const body = {
    title: $('t-title').value,
    description: $('t-description').value || null,
    priority_id: number($('t-priority').value),
    tags,
    due_date: localToIso($('t-due').value),
    recurrence: frequency ? { frequency, interval: number($('t-interval').value) || 1 } : null,
  };
  const reminder = $('t-reminder').value;
  if (reminder !== '') body.reminder_offset_minutes = Number(reminder);
  if (!state.editing) {
    for (const k of ['description', 'priority_id', 'due_date', 'recurrence']) if (body[k] === null) delete body[k];
  }
  return body;
}

$('task-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = $('task-form');
  clearErrors(form);
  $('t-save').disabled = true;
  try {
    if (state.editing) await api('PATCH', 'tasks/' + state.editing.id, formBody());
    else await api('POST', 'tasks', formBody());
    $('task-dialog').close();
    refreshAll();
  } catch (err) {
    if (err.kind === 'error') showFieldError(err.error.field, err.message, 'task-form-error');
    else if (err.kind === 'unavailable') $('task-form-error').textContent = err.message + ' Nothing was saved; try again.';
  } finally {
    $('t-save').disabled = false;
  }
});
$('t-cancel').addEventListener('click', () => $('task-dialog').close());
$('new-task').addEventListener('click', () => openForm(null));

// ---------------------------------------------------------------- history
async function loadHistory(task) {
  const page = await api('GET', 'audit?limit=50&task_id=' + encodeURIComponent(task.id));
  const list = $('history');
  list.replaceChildren();
  for (const e of page.items) {
    const li = el('li', null, e.event_type.replace('task.', '') + ' — ' + (e.data && e.data.title ? e.data.title : ''));
    const when = el('time', 'hint', ' (' + shown(e.timestamp) + ')');
    when.dateTime = e.timestamp;
    li.append(when);
    list.append(li);
  }
  if (page.items.length === 0) list.append(el('li', 'hint', 'Nothing recorded yet.'));
}
function openHistory(task) {
  state.history = task;
  $('history-title').textContent = 'History of “' + task.title + '”';
  $('history').replaceChildren();
  $('history-error').textContent = '';
  $('history-dialog').showModal();
  load('history', () => loadHistory(task)).catch((err) => { $('history-error').textContent = err.message; });
}
$('history-close').addEventListener('click', () => { state.history = null; $('history-dialog').close(); });

// ---------------------------------------------------------------- the live feed
function closeSocket() {
  if (state.socket) { state.socket.onclose = null; state.socket.close(1000); state.socket = null; }
  clearTimeout(state.retry);
}

function liveStatus(text, on) {
  const s = $('live-status');
  s.textContent = text;
  s.classList.toggle('on', !!on);
}

function openSocket(attempt) {
  closeSocket();
  if (!state.session) return;
  liveStatus(attempt ? 'reconnecting…' : 'connecting…');
  const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ui/ws');
  state.socket = ws;
  let opened = false;
  ws.onmessage = (msg) => {
    let frame = null;
    try { frame = JSON.parse(msg.data); } catch (e) { return; }
    if (frame.type === 'subscribed') {
      opened = true;
      state.live += 1;
      liveStatus('live', true);
      if (attempt > 0 || state.live > 1) refreshAll(); // whatever happened while away
      attempt = 0;
    } else if (frame.event_type) {
      refreshAll();
    }
  };
  ws.onclose = async (ev) => {
    state.socket = null;
    if (!state.session) return;
    if (ev.code === 1008) {
      const session = await fetchSession();
      if (!session.signed_in) { signedOut('Your session has ended: sign in again.'); return; }
    }
    const delay = backoff(opened ? 0 : attempt);
    liveStatus('offline, reconnecting in ' + Math.ceil(delay / 1000) + ' s');
    state.retry = setTimeout(() => openSocket(attempt + 1), delay);
  };
}

// ---------------------------------------------------------------- chat
const chatSession = sessionStorage.getItem('todo-chat') || (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()));
sessionStorage.setItem('todo-chat', chatSession);

function chatLine(cls, text) {
  const li = el('li', cls, text);
  $('chat-log').append(li);
  li.scrollIntoView({ block: 'nearest' });
  return li;
}

function sseEvents(buffer, onEvent) {
  let at;
  while ((at = buffer.indexOf('\n\n')) >= 0) {
    const block = buffer.slice(0, at);
    buffer = buffer.slice(at + 2);
    let event = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    let parsed = null;
    try { parsed = JSON.parse(data.join('\n')); } catch (e) { parsed = null; }
    onEvent(event, parsed);
  }
  return buffer;
}

$('chat-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const message = $('chat-input').value.trim();
  if (!message || !state.session) return;
  $('chat-input').value = '';
  $('chat-send').disabled = true;
  chatLine('user', message);
  const answer = chatLine('assistant', '');
  try {
    const res = await fetch('/ui/api/chat', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'Accept': 'text/event-stream', 'X-CSRF-Token': state.session.csrf_token },
      body: JSON.stringify({ session_id: chatSession, message }),
    });
    if (res.status === 401) { signedOut('Your session has ended: sign in again.'); return; }
    if (!res.ok || !(res.headers.get('content-type') || '').startsWith('text/event-stream')) {
      const data = await res.json().catch(() => null);
      answer.className = 'error';
      answer.textContent = res.status === 404 ? 'There is no assistant on this server.'
        : (data && data.error && data.error.message) || 'The assistant failed (' + res.status + ').';
      return;
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer = sseEvents(buffer + decoder.decode(value, { stream: true }).replace(/\r\n/g, '\n'), (event, data) => {
        if (event === 'delta' && data) answer.textContent += data.text || '';
        else if (event === 'tool' && data) {
          const outcome = data.error !== undefined ? 'error: ' + JSON.stringify(data.error) : '→ ' + JSON.stringify(data.result);
          $('chat-log').insertBefore(el('li', 'tool', data.name + '(' + JSON.stringify(data.arguments) + ') ' + outcome), answer);
          refreshAll();
        } else if (event === 'error') {
          answer.className = 'error';
          answer.textContent = (data && data.error && data.error.message) || 'The assistant failed.';
        }
      });
    }
    if (!answer.textContent) answer.textContent = '(no answer)';
  } catch (e) {
    answer.className = 'error';
    answer.textContent = 'The assistant cannot be reached; try again.';
  } finally {
    $('chat-send').disabled = false;
  }
});

// ---------------------------------------------------------------- start
(async () => {
  const session = await fetchSession();
  $('banner').hidden = true;
  const error = new URLSearchParams(location.search).get('sign_in_error');
  if (session.signed_in) showApp(session);
  else showSignIn(session, error ? (error === 'unavailable' ? 'The sign-in service is unavailable; try again.' : 'Sign-in was refused.') : '');
})();
