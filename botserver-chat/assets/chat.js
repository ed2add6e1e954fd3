// botserver web chat: the bot picker (index.html) and the chat page (chat.html).
// Plain browser JavaScript; no eval, no inline handlers, no HTML built from unescaped data.
// Under node (the Markdown test) only the pure functions are used, via module.exports.
'use strict';

/* ---------------------------------------------------------------- Markdown --- */

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const UNESCAPES = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" };

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

function unescapeHtml(s) {
  return s.replace(/&(amp|lt|gt|quot|#39);/g, (_, e) => UNESCAPES[e]);
}

// The URL when it may be a link (`kind` 'link') or an image source ('image'), else null.
// An allow-list: anything that is not plainly http(s)/mailto/a local path (or a base64
// raster image) is refused, which covers every spelling of javascript:, vbscript:, data:.
function safeUrl(url, kind) {
  if (typeof url !== 'string') return null;
  const u = url.trim();
  // Browsers drop tabs and newlines inside URLs and read "\" as "/": refuse both.
  if (!u || /[\u0000-\u0020\u007f-\u009f\\]/.test(u)) return null;
  if (/^https?:\/\/[^/]/i.test(u)) return u;
  if (kind === 'image') {
    return /^data:image\/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+={0,2}$/i.test(u) ? u : null;
  }
  if (/^mailto:[^/]/i.test(u)) return u;
  if (/^\/(?!\/)/.test(u)) return u;
  return null;
}

function emphasis(s) {
  return s
    .replace(/\*\*\*(?=\S)([^*]*?\S)\*\*\*/g, '<strong><em>$1</em></strong>')
    .replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, '<strong>$1</strong>')
    .replace(/(^|[^\w])__(?=\S)([\s\S]*?\S)__(?!\w)/g, '$1<strong>$2</strong>')
    // Emphasis never spans a tag made above, so the markup always nests.
    .replace(/\*(?=[^\s*<])([^*<]*?[^\s*<])\*/g, '<em>$1</em>')
    .replace(/(^|[^\w])_(?=[^\s_<])([^_<]*?[^\s_<])_(?!\w)/g, '$1<em>$2</em>');
}

// Inline Markdown of already-escaped text. Finished markup is parked behind \u0000n\u0000
// placeholders (the input cannot contain \u0000) so later passes never touch it.
function renderInline(s) {
  const kept = [];
  const keep = (html) => '\u0000' + (kept.push(html) - 1) + '\u0000';
  const restore = (x) => {
    for (let i = 0; i < 8 && x.indexOf('\u0000') !== -1; i++) {
      x = x.replace(/\u0000(\d+)\u0000/g, (_, n) => kept[n]);
    }
    return x;
  };
  const plain = (x) => restore(x).replace(/<[^>]*>/g, ''); // for attribute values
  s = s.replace(/(`+)([\s\S]+?)\1(?!`)/g, (_, t, code) => keep('<code>' + code + '</code>'));
  // Twice, so that an image inside a link's text works.
  for (let pass = 0; pass < 2; pass++) {
    s = s.replace(
      /(!?)\[([^[\]\n]*)\]\(\s*([^\s)]+)(?:\s+&quot;([^\n]*?)&quot;)?\s*\)/g,
      (all, bang, label, href, title) => {
        const url = safeUrl(unescapeHtml(href), bang ? 'image' : 'link');
        if (url === null) return all; // stays as the (escaped) text it was
        const t = title ? ' title="' + plain(title) + '"' : '';
        if (bang) return keep('<img src="' + escapeHtml(url) + '" alt="' + plain(label) + '"' + t + '>');
        return keep('<a href="' + escapeHtml(url) + '" target="_blank" rel="noopener noreferrer"' + t + '>' +
          emphasis(label) + '</a>');
      });
  }
  s = s.replace(/\bhttps?:\/\/(?:(?!&(?:lt|gt|quot|#39);)[^\s\u0000])+/gi, (raw) => {
    const trail = raw.match(/[.,;:!?)\]*_~]*$/)[0];
    const body = raw.slice(0, raw.length - trail.length);
    const url = safeUrl(unescapeHtml(body), 'link');
    if (url === null) return raw;
    return keep('<a href="' + escapeHtml(url) + '" target="_blank" rel="noopener noreferrer">' + body + '</a>') + trail;
  });
  return restore(emphasis(s));
}

const UL_ITEM = /^\s*[-*+]\s+(.*)$/;
const OL_ITEM = /^\s*\d{1,9}[.)]\s+(.*)$/;

function renderBlocks(lines, depth) {
  const out = [];
  let para = [];
  const flush = () => {
    if (para.length) out.push('<p>' + renderInline(para.join('\n')).replace(/\n/g, '<br>') + '</p>');
    para = [];
  };
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if (/^\s*```/.test(line)) {
      flush();
      const code = [];
      i++;
      while (i < lines.length && !/^\s*```\s*$/.test(lines[i])) code.push(lines[i++]);
      i++;
      out.push('<pre><code>' + code.join('\n') + '</code></pre>');
    } else if (!line.trim()) {
      flush();
      i++;
    } else if ((m = line.match(/^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$/))) {
      flush();
      const level = Math.min(m[1].length, 3);
      out.push('<h' + level + '>' + renderInline(m[2]) + '</h' + level + '>');
      i++;
    } else if (depth < 8 && /^\s{0,3}&gt;/.test(line)) {
      flush();
      const quoted = [];
      while (i < lines.length && /^\s{0,3}&gt;/.test(lines[i])) quoted.push(lines[i++].replace(/^\s{0,3}&gt; ?/, ''));
      out.push('<blockquote>' + renderBlocks(quoted, depth + 1) + '</blockquote>');
    } else if (UL_ITEM.test(line) || OL_ITEM.test(line)) {
      flush();
      const re = UL_ITEM.test(line) ? UL_ITEM : OL_ITEM;
      const tag = re === UL_ITEM ? 'ul' : 'ol';
      const items = [];
      while (i < lines.length) {
        const l = lines[i];
        if ((m = l.match(re))) items.push([m[1]]);
        else if (/^\s+\S/.test(l) && !UL_ITEM.test(l) && !OL_ITEM.test(l)) items[items.length - 1].push(l.trim());
        else break;
        i++;
      }
      out.push('<' + tag + '>' + items.map((it) =>
        '<li>' + renderInline(it.join('\n')).replace(/\n/g, '<br>') + '</li>').join('') + '</' + tag + '>');
    } else {
      para.push(line);
      i++;
    }
  }
  flush();
  return out.join('');
}

// Markdown to an HTML string: the text is escaped first, then only p, strong, em, code,
// pre, a, img, ul, ol, li, br, h1-h3 and blockquote are added, with checked URLs.
function renderMarkdown(text) {
  if (text === null || text === undefined) return '';
  const src = String(text).replace(/\r\n?/g, '\n').replace(/\u0000/g, '\uFFFD');
  return renderBlocks(escapeHtml(src).split('\n'), 0);
}

/* ----------------------------------------------------------------- helpers --- */

const str = (v) => (typeof v === 'string' ? v : '');

function safeColor(v) {
  if (typeof v !== 'string') return null;
  const c = v.trim();
  if (!/^(#[0-9a-fA-F]{3,8}|[a-zA-Z]+|(rgb|rgba|hsl|hsla)\([0-9,.\s%]+\))$/.test(c)) return null;
  if (typeof CSS !== 'undefined' && CSS.supports && !CSS.supports('color', c)) return null;
  return c;
}

async function getJson(url) {
  const res = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  let body = null;
  try { body = await res.json(); } catch (e) { /* not JSON */ }
  if (!res.ok) {
    const err = new Error(str(body && (body.message || body.error)) || 'HTTP ' + res.status);
    err.status = res.status;
    throw err;
  }
  return body;
}

/* ------------------------------------------------------------------ picker --- */

async function pickerApp() {
  const list = document.getElementById('bots');
  const note = document.getElementById('bots-status');
  try {
    const data = await getJson('/api/chat/bots');
    const bots = Array.isArray(data) ? data : (data && Array.isArray(data.bots) ? data.bots : []);
    list.textContent = '';
    for (const b of bots) {
      const name = str(b && b.name);
      if (!name) continue;
      const theme = (b.theme && typeof b.theme === 'object') ? b.theme : {};
      const a = document.createElement('a');
      a.className = 'bot';
      a.href = '/chat/' + encodeURIComponent(name);
      const c1 = safeColor(theme['theme-color1']);
      const c2 = safeColor(theme['theme-color2']);
      if (c1) a.style.setProperty('--primary', c1);
      if (c2) a.style.setProperty('--on-primary', c2);
      const title = str(b.title) || name;
      const logo = safeUrl(theme['theme-logo'], 'image');
      let badge;
      if (logo) {
        badge = document.createElement('img');
        badge.src = logo;
        badge.alt = '';
      } else {
        badge = document.createElement('span');
        badge.textContent = Array.from(title)[0].toUpperCase();
      }
      badge.className = 'bot-badge';
      const text = document.createElement('span');
      text.className = 'bot-text';
      const t = document.createElement('strong');
      t.className = 'bot-title';
      t.textContent = title;
      const d = document.createElement('span');
      d.className = 'bot-desc';
      d.textContent = str(b.description);
      text.append(t, d);
      a.append(badge, text);
      const li = document.createElement('li');
      li.appendChild(a);
      list.appendChild(li);
    }
    note.textContent = list.children.length ? '' : 'No bots are available.';
  } catch (e) {
    note.textContent = 'The bots could not be loaded: ' + e.message;
  }
}

/* -------------------------------------------------------------------- chat --- */

function chatApp() {
  const $ = (id) => document.getElementById(id);
  const list = $('messages'), sugBox = $('suggestions'), input = $('input'), form = $('composer');
  const typingEl = $('typing'), statusEl = $('status'), titleEl = $('title'), logoEl = $('logo'), errorEl = $('error');

  const m = location.pathname.match(/^\/chat\/([^/]+)\/?$/);
  let bot = '';
  try { bot = m ? decodeURIComponent(m[1]) : ''; } catch (e) { bot = ''; }
  const storeKey = 'botserver.chat.' + bot;
  const PAGE = 500;

  const ids = { user_id: '', session_id: '', bot_id: '' };
  let lastId = 0;             // highest message id seen this page load
  let ws = null, connected = false, connecting = false, stopped = false;
  let needAuth = true, firstLoad = true, connectedAt = 0, sawTyping = false;
  let backoff = 500, retryTimer = 0, typingTimer = 0, connError = false, stick = true;
  let stream = null;          // { el, body, text, raf, sure }
  let pendingSources = null;  // sources that came before their answer
  const seen = new Set();     // message ids on the page
  const pending = new Map();  // client id -> optimistic user bubble
  // User messages not yet seen stored: { frame, el, sock (the socket it went out on), floor
  // (lastId when it went out: its stored copy has a higher id) }.
  let queue = [];

  const load = () => { try { return JSON.parse(localStorage.getItem(storeKey)) || {}; } catch (e) { return {}; } };
  const save = () => {
    try { localStorage.setItem(storeKey, JSON.stringify({ user_id: ids.user_id, session_id: ids.session_id, last_id: lastId })); } catch (e) { /* private mode */ }
  };

  function setStatus(state) {
    statusEl.dataset.state = state;
    statusEl.textContent = state === 'connected' ? 'connected' : (stopped ? 'offline' : 'Reconnecting…');
  }

  function showError(text, fromConnection) {
    errorEl.textContent = text || '';
    errorEl.hidden = !text;
    connError = !!(text && fromConnection);
  }

  function scrollDown(force) {
    if (force || stick) list.scrollTop = list.scrollHeight;
  }
  list.addEventListener('scroll', () => { stick = list.scrollHeight - list.scrollTop - list.clientHeight < 80; });
  list.addEventListener('load', () => scrollDown(false), true); // images growing the list

  function bubble(role) {
    const el = document.createElement('div');
    el.className = 'msg msg-' + role;
    return el;
  }
  function userBubble(text) {
    const el = bubble('user');
    el.textContent = text;
    return el;
  }
  function botBubble(markdown) {
    const el = bubble('bot');
    const body = document.createElement('div');
    body.className = 'msg-body';
    body.innerHTML = renderMarkdown(markdown);
    el.appendChild(body);
    return el;
  }

  // Puts a message in id order (messages without an id stay where they were added).
  let maxPlaced = 0;
  function place(el, id) {
    if (id !== null) {
      el.dataset.id = String(id);
      if (id < maxPlaced) {
        for (const other of list.querySelectorAll('.msg[data-id]')) {
          if (Number(other.dataset.id) > id) { list.insertBefore(el, other); return; }
        }
      }
      maxPlaced = Math.max(maxPlaced, id);
    }
    if (stream && stream.el.parentNode === list) list.insertBefore(el, stream.el);
    else list.appendChild(el);
  }

  const numId = (v) => (v !== null && v !== undefined && v !== '' && Number.isFinite(Number(v)) ? Number(v) : null);
  function bumpLast(id) {
    if (id !== null && id > lastId) { lastId = id; save(); }
  }

  function attachSources(el, items) {
    const names = [...new Set(items.map((it) => str(it && it.source).trim()).filter(Boolean))];
    if (!names.length) return;
    const old = el.querySelector('.sources');
    if (old) old.remove();
    const box = document.createElement('div');
    box.className = 'sources';
    const label = document.createElement('span');
    label.className = 'sources-label';
    label.textContent = 'Sources:';
    box.appendChild(label);
    names.forEach((name) => {
      const s = document.createElement('span');
      s.className = 'source';
      s.textContent = name;
      const hit = items.find((it) => it && it.source === name);
      if (hit && (hit.location || hit.text)) s.title = [str(hit.location), str(hit.text)].filter(Boolean).join(': ').slice(0, 300);
      box.appendChild(s);
    });
    el.appendChild(box);
    scrollDown(false);
  }
  function takePendingSources(el) {
    if (pendingSources) { attachSources(el, pendingSources); pendingSources = null; }
  }

  function showSuggestions(items) {
    sugBox.textContent = '';
    for (const sg of Array.isArray(items) ? items : []) {
      const text = str(sg && sg.text);
      if (!text) continue;
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'suggestion';
      b.textContent = text;
      b.addEventListener('click', () => send(str(sg.context) || text, 4, text));
      sugBox.appendChild(b);
    }
    sugBox.hidden = !sugBox.children.length;
  }

  function showTyping() {
    sawTyping = true;
    typingEl.hidden = false;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, 15000);
    scrollDown(false);
  }
  function hideTyping() {
    clearTimeout(typingTimer);
    typingEl.hidden = true;
  }

  // A stored message (history): rendered unless already on the page.
  function addStored(msg) {
    const id = numId(msg && msg.id);
    if (id === null) return;
    bumpLast(id);
    const mine = msg.role === 'user' && msg.client_id && pending.get(msg.client_id);
    if (mine) { confirm(msg.client_id, mine, id); return; }
    if (seen.has(id)) return;
    seen.add(id);
    place(msg.role === 'user' ? userBubble(str(msg.content)) : botBubble(str(msg.content)), id);
  }

  async function loadHistory(after) {
    const session = ids.session_id;
    for (;;) {
      const q = new URLSearchParams({ after: String(after), limit: String(PAGE), user_id: ids.user_id });
      const d = await getJson('/api/sessions/' + encodeURIComponent(session) + '/messages?' + q);
      if (session !== ids.session_id) return; // the session changed meanwhile
      const msgs = d && Array.isArray(d.messages) ? d.messages : [];
      msgs.forEach(addStored);
      if (msgs.length) {
        const lm = msgs[msgs.length - 1];
        if (!stream) showSuggestions(lm.role === 'user' ? [] : lm.suggestions);
        after = Math.max(after, numId(lm.id) || 0);
      }
      if (msgs.length < PAGE) break;
    }
    scrollDown(firstLoad);
  }

  function renderStream() {
    if (!stream) return;
    stream.raf = 0;
    stream.body.innerHTML = renderMarkdown(stream.text);
    scrollDown(false);
  }

  function onBotFrame(f) {
    hideTyping();
    const piece = str(f.content);
    const id = numId(f.id);
    if (f.is_complete === false) {
      if (!stream) {
        const el = botBubble('');
        el.classList.add('streaming');
        list.appendChild(el);
        list.setAttribute('aria-busy', 'true');
        // Without the typing event first, this socket may have joined mid-answer.
        stream = { el, body: el.firstChild, text: '', raf: 0, sure: sawTyping };
        takePendingSources(el);
      }
      stream.text += piece;
      if (!stream.raf) stream.raf = requestAnimationFrame(renderStream);
      return;
    }
    if (stream) {
      const st = stream;
      stream = null;
      cancelAnimationFrame(st.raf);
      list.setAttribute('aria-busy', 'false');
      st.text += piece;
      if (id !== null && (seen.has(id) || !st.sure)) {
        st.el.remove(); // shown already, or only its tail arrived here: take the stored copy
        if (!seen.has(id)) loadHistory(id - 1).catch(() => {});
      } else {
        st.body.innerHTML = renderMarkdown(st.text);
        st.el.classList.remove('streaming');
        if (id !== null) { seen.add(id); st.el.dataset.id = String(id); maxPlaced = Math.max(maxPlaced, id); bumpLast(id); }
      }
    } else if (id !== null && !piece) {
      // The close of an answer streamed before this socket joined: take the stored copy.
      if (!seen.has(id)) loadHistory(id - 1).catch(() => {});
      return;
    } else {
      if (id !== null) {
        bumpLast(id);
        if (seen.has(id)) return;
        seen.add(id);
      }
      if (piece) {
        const el = botBubble(piece);
        place(el, id);
        takePendingSources(el);
      }
    }
    showSuggestions(f.suggestions);
    scrollDown(false);
  }

  // An optimistic bubble's stored copy has been seen: it gets its id and needs no resending.
  function confirm(clientId, el, id) {
    pending.delete(clientId);
    queue = queue.filter((q) => q.el !== el);
    el.classList.remove('queued');
    if (id !== null) { el.dataset.id = String(id); seen.add(id); bumpLast(id); }
  }

  function onUserMessage(f) {
    const id = numId(f.id);
    const mine = f.client_id && pending.get(f.client_id);
    if (mine) { confirm(f.client_id, mine, id); return; }
    if (id !== null) {
      bumpLast(id);
      if (seen.has(id)) return;
      seen.add(id);
    }
    place(userBubble(str(f.content)), id);
    showSuggestions([]);
    scrollDown(false);
  }

  function onSources(items) {
    items = Array.isArray(items) ? items : [];
    const last = list.lastElementChild;
    if (stream) attachSources(stream.el, items);
    else if (typingEl.hidden && last && last.classList.contains('msg-bot')) attachSources(last, items);
    else pendingSources = items; // the answer is still to come
  }

  function onFrame(data) {
    let f;
    try { f = JSON.parse(data); } catch (e) { return; }
    if (!f || typeof f !== 'object') return;
    switch (f.type) {
      case 'connected':
        connected = true;
        connectedAt = Date.now();
        if (f.bot_id) ids.bot_id = String(f.bot_id);
        setStatus('connected');
        if (connError) showError('');
        // From before the oldest unconfirmed message: its stored copy (if the last socket
        // delivered it) confirms it; what is still unconfirmed afterwards is sent again.
        loadHistory(Math.min(lastId, ...queue.filter((q) => q.sock).map((q) => q.floor)))
          .catch((e) => showError(e.message))
          .then(flushQueue);
        return;
      case 'typing': showTyping(); return;
      case 'error':
        hideTyping();
        showError(str(f.message) || 'Something went wrong.');
        return;
      case 'sources': onSources(f.items); return;
      case 'user_message': onUserMessage(f); return;
      case undefined: case null:
        if (typeof f.content === 'string' && (f.message_type === undefined || f.message_type === 2)) onBotFrame(f);
    }
  }

  function uuid() {
    const c = typeof crypto !== 'undefined' ? crypto : null;
    if (c && typeof c.randomUUID === 'function') return c.randomUUID();
    const b = new Uint8Array(16);
    if (c && c.getRandomValues) c.getRandomValues(b);
    else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  // Sends a queued message on the open socket (false when there is none).
  function transmit(q) {
    if (!connected || !ws || ws.readyState !== 1) return false;
    const f = q.frame;
    try {
      ws.send(JSON.stringify({
        content: f.content, message_type: f.message_type, session_id: ids.session_id,
        user_id: ids.user_id, bot_id: ids.bot_id, channel: 'web', id: f.id,
      }));
    } catch (e) { return false; }
    q.floor = q.sock ? Math.min(q.floor, lastId) : lastId;
    q.sock = ws;
    q.el.classList.remove('queued');
    return true;
  }

  // Sends what this socket has not sent. A message whose socket died just after sending it
  // may go twice: the server stores a client id once.
  function flushQueue() {
    for (const q of queue) if (q.sock !== ws && !transmit(q)) return;
  }

  function send(content, type, label) {
    if (!content.trim()) return;
    const frame = { content, message_type: type, id: uuid() };
    const el = userBubble(label);
    pending.set(frame.id, el);
    const entry = { frame, el, sock: null, floor: 0 };
    queue.push(entry);
    list.appendChild(el);
    showSuggestions([]);
    showError('');
    if (!transmit(entry)) el.classList.add('queued');
    scrollDown(true);
  }

  function resetConversation() {
    // Only messages never sent survive, to go to the new session.
    queue = queue.filter((q) => !q.sock);
    pending.clear();
    for (const q of queue) pending.set(q.frame.id, q.el);
    const keep = new Set(queue.map((q) => q.el));
    for (const el of [...list.children]) if (!keep.has(el)) el.remove();
    seen.clear();
    lastId = 0;
    maxPlaced = 0;
    stream = null;
    pendingSources = null;
    showSuggestions([]);
  }

  async function authenticate() {
    const stored = load();
    const q = { bot_name: bot };
    if (stored.user_id && stored.session_id) { q.user_id = stored.user_id; q.session_id = stored.session_id; }
    const r = await getJson('/api/chat/session?' + new URLSearchParams(q));
    if (!r || !r.session_id || !r.user_id) throw new Error('The server sent no session.');
    if (ids.session_id && r.session_id !== ids.session_id) resetConversation();
    ids.user_id = String(r.user_id);
    ids.session_id = String(r.session_id);
    ids.bot_id = String(r.bot_id || '');
    save();
  }

  async function connect() {
    clearTimeout(retryTimer);
    retryTimer = 0;
    if (stopped || ws || connecting) return;
    connecting = true;
    setStatus('connecting');
    try {
      if (needAuth) { await authenticate(); needAuth = false; }
      if (firstLoad) {
        await loadHistory(0);
        firstLoad = false;
      }
    } catch (e) {
      connecting = false;
      if (e.status >= 400 && e.status < 500 && e.status !== 408 && e.status !== 429) {
        stopped = true; // the server said no: retrying will not help
        setStatus('offline');
        showError(e.message);
        return;
      }
      showError(e.status ? e.message : 'The server cannot be reached.', true);
      scheduleReconnect();
      return;
    }
    connecting = false;
    const q = new URLSearchParams({ session_id: ids.session_id, user_id: ids.user_id, bot_name: bot });
    const url = (location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host + '/ws?' + q;
    let sock;
    try { sock = new WebSocket(url); } catch (e) { scheduleReconnect(); return; }
    ws = sock;
    sawTyping = false;
    sock.addEventListener('message', (ev) => { if (ws === sock) onFrame(ev.data); });
    sock.addEventListener('close', (ev) => { if (ws === sock) onClose(ev); });
  }

  function onClose(ev) {
    ws = null;
    connected = false;
    hideTyping();
    if (stream) { // its stored copy comes with the history after reconnecting
      stream.el.remove();
      stream = null;
      list.setAttribute('aria-busy', 'false');
    }
    if (connectedAt && Date.now() - connectedAt > 5000) backoff = 500; // it had been working
    connectedAt = 0;
    for (const q of queue) q.el.classList.add('queued');
    if (ev.code === 1008 || (ev.code >= 4000 && ev.code < 5000)) {
      showError(ev.reason || 'The server closed the connection (' + ev.code + ').', true);
      needAuth = true; // the session may be gone: ask again (a new one if so)
    }
    scheduleReconnect();
  }

  function scheduleReconnect() {
    if (stopped || retryTimer) return;
    setStatus('offline');
    const delay = backoff / 2 + Math.random() * backoff / 2;
    backoff = Math.min(backoff * 2, 10000);
    retryTimer = setTimeout(connect, delay);
  }

  window.addEventListener('online', () => { if (retryTimer) connect(); });

  function submit() {
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    autosize();
    send(text, 1, text);
    input.focus();
  }
  function autosize() {
    input.style.height = 'auto';
    input.style.height = Math.min(input.scrollHeight, 160) + 'px';
  }
  form.addEventListener('submit', (e) => { e.preventDefault(); submit(); });
  input.addEventListener('input', autosize);
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      submit();
    }
  });

  async function loadTheme() {
    try {
      const p = await getJson('/api/chat/bots/' + encodeURIComponent(bot));
      const t = p && p.theme && typeof p.theme === 'object' ? p.theme : {};
      const root = document.documentElement.style;
      const c1 = safeColor(t['theme-color1']), c2 = safeColor(t['theme-color2']);
      if (c1) root.setProperty('--primary', c1);
      if (c2) root.setProperty('--on-primary', c2);
      const title = str(t['theme-title']) || str(p && p.title) || str(p && p.name) || bot;
      titleEl.textContent = title;
      document.title = title;
      const logo = safeUrl(t['theme-logo'], 'image');
      if (logo) { logoEl.src = logo; logoEl.hidden = false; }
    } catch (e) { /* the default look will do */ }
  }
  logoEl.addEventListener('error', () => { logoEl.hidden = true; });

  titleEl.textContent = bot || 'Chat';
  document.title = bot || 'Chat';
  if (!bot) {
    stopped = true;
    setStatus('offline');
    showError('No bot is named in the address (/chat/<name>).');
    return;
  }
  loadTheme();
  connect();
}

if (typeof document !== 'undefined') {
  if (document.getElementById('bots')) pickerApp();
  else if (document.getElementById('messages')) chatApp();
}

if (typeof module !== 'undefined') module.exports = { renderMarkdown, safeUrl };
