// The agent console. It holds one WebSocket to GET /agent/ws (protocol/console.go): the
// server pushes a "state" snapshot on connect and on every change, "history" when a
// conversation is claimed or opened, and the live "message", "event" and "typing" frames of
// the conversations this connection watches. Nothing is kept only here: after a reload or a
// lost connection the console reconnects (with backoff), gets the state again and re-opens
// the conversations it holds and the one on screen (its id is in sessionStorage).
//
// Every text that comes from visitors, agents or the server goes into the page with
// textContent (h() below); nothing is ever parsed as HTML.
'use strict';

(function () {
  const I = window.HotlineI18n;
  const OPEN_KEY = 'hotline-console-open';
  const READ_KEY = 'hotline-console-read';
  const DRAFT_KEY = 'hotline-console-draft:';
  const TYPING_IDLE = 3000; // ms without a keystroke before "stopped typing"
  const TYPING_REPEAT = 5000; // ms between repeated "typing" frames while typing goes on
  const TYPING_SHOW = 15000; // ms a visitor's "typing" shows without news

  const $ = function (id) { return document.getElementById(id); };

  // h builds an element. props: text (textContent), class, dataset, on<event> handlers,
  // anything else as an attribute (true: present, null/false: absent). Children are nodes or
  // strings (appended as text nodes).
  function h(tag, props) {
    const e = document.createElement(tag);
    for (const k in props || {}) {
      const v = props[k];
      if (v == null || v === false) continue;
      if (k === 'text') e.textContent = v;
      else if (k === 'class') e.className = v;
      else if (k === 'dataset') Object.assign(e.dataset, v);
      else if (k.slice(0, 2) === 'on') e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (let i = 2; i < arguments.length; i++) {
      const kids = [].concat(arguments[i]);
      for (const kid of kids) if (kid != null && kid !== false) e.append(kid);
    }
    return e;
  }

  const S = {
    me: null, // {id, name, role, langs}
    csrf: '',
    state: null, // the last ConsoleState
    stateAt: 0, // Date.now() when it came: wait times tick from there
    canned: [], // [{id, text}] in the agent's first language
    convs: new Map(), // conversation id -> conversation (see conv)
    current: sessionStorage.getItem(OPEN_KEY) || '',
    ws: null,
    connected: false,
    attempt: 0,
    reconnectTimer: 0,
    firstState: true,
    assigned: new Map(), // conversation id -> agent id, in the last state
    watched: new Set(), // conversations whose history this connection has
    opening: new Set(), // open frames sent, history not back yet
    wantView: '', // a claimed conversation to show when its history comes
    wantNext: false, // "take next" sent: show the conversation it gives
    readLang: '',
    typingConv: '', typingAt: 0, typingTimer: 0,
    alertTimer: 0,
  };

  function conv(id) {
    let c = S.convs.get(id);
    if (!c) {
      c = {
        id: id, info: null, msgs: new Map(), pending: new Map(), notes: [], loaded: false,
        typing: false, typingTimer: 0, suggestions: null, suggestLoading: false,
        cannedVisitor: {}, cannedText: {}, unread: 0,
      };
      S.convs.set(id, c);
    }
    return c;
  }

  function newID() {
    const b = new Uint8Array(12);
    crypto.getRandomValues(b);
    return Array.from(b, function (x) { return x.toString(16).padStart(2, '0'); }).join('');
  }

  function isSupervisor() { return !!S.me && S.me.role === 'supervisor'; }

  function mine(id) {
    return !!S.state && (S.state.mine || []).some(function (c) { return c.id === id; });
  }

  function assignment(id) {
    if (!S.state) return null;
    return (S.state.mine || []).concat(S.state.all || []).find(function (c) { return c.id === id; }) || null;
  }

  // canAct: the agent may write in the conversation (holds it, or supervises, and a person
  // has it).
  function canAct(c) {
    if (!c || !c.loaded || !S.connected) return false;
    const st = c.info && c.info.state;
    return st === 'agent' && (mine(c.id) || isSupervisor() && !!assignment(c.id));
  }

  // ---- the connection ----

  function send(frame) {
    if (!S.ws || S.ws.readyState !== WebSocket.OPEN) return false;
    S.ws.send(JSON.stringify(frame));
    return true;
  }

  function connect() {
    clearTimeout(S.reconnectTimer);
    setConn('connecting');
    const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/agent/ws');
    S.ws = ws;
    ws.addEventListener('open', function () {
      if (S.ws !== ws) return;
      S.connected = true;
      S.attempt = 0;
      setConn('online');
    });
    ws.addEventListener('message', function (ev) {
      if (S.ws !== ws) return;
      let f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      try { handle(f); } catch (e) { console.error('console frame', f && f.type, e); }
    });
    ws.addEventListener('close', function () {
      if (S.ws !== ws) return;
      S.ws = null;
      S.connected = false;
      S.watched.clear();
      S.opening.clear();
      setConn('offline');
      renderConversation();
      scheduleReconnect();
    });
  }

  // scheduleReconnect tries again after 1, 2, 4 ... 30 s (with jitter). A session that has
  // expired cannot reconnect: then the login page.
  function scheduleReconnect(now) {
    clearTimeout(S.reconnectTimer);
    const delay = now ? 0 : Math.min(30000, 1000 * Math.pow(2, S.attempt)) * (0.5 + Math.random() / 2);
    S.attempt++;
    S.reconnectTimer = setTimeout(async function () {
      try {
        const r = await fetch('/console/api/me', { credentials: 'same-origin' });
        if (r.status === 401) {
          location.replace('/console/login');
          return;
        }
        if (r.ok) S.csrf = (await r.json()).csrf || S.csrf;
      } catch (e) { /* offline: the socket fails too, and we try again */ }
      connect();
    }, delay);
  }

  window.addEventListener('online', function () { if (!S.ws) scheduleReconnect(true); });

  function setConn(status) {
    const el = $('conn');
    el.dataset.status = status;
    el.textContent = I.t(status === 'online' ? 'ConsoleConnected' : status === 'connecting' ? 'ConsoleConnecting' : 'ConsoleReconnecting');
  }

  function handle(f) {
    switch (f.type) {
      case 'state': onState(f.state); break;
      case 'canned': S.canned = f.canned || []; renderTools(); break;
      case 'history': onHistory(f); break;
      case 'message':
      case 'event': onMessage(f); break;
      case 'typing': onTyping(f); break;
      case 'suggestions': onSuggestions(f); break;
      case 'note': onNote(f); break;
      case 'ack': onAck(f); break;
      case 'error': onError(f); break;
    }
  }

  // ---- frames from the server ----

  function onState(st) {
    if (!st) return;
    S.state = st;
    S.stateAt = Date.now();
    if (st.agent) S.me = Object.assign({}, S.me, { name: st.agent.name, role: st.agent.role, langs: st.agent.langs || S.me.langs });
    // A conversation that changed hands (handed back, closed, transferred) is no longer
    // watched: the server detached this connection from it.
    const now = new Map();
    for (const c of (st.mine || []).concat(st.all || [])) now.set(c.id, c.agent_id);
    S.assigned.forEach(function (agent, id) {
      if (now.get(id) !== agent) S.watched.delete(id);
    });
    S.assigned = now;
    // Watch every conversation this agent holds: after a reconnect, a transfer to them.
    for (const c of st.mine || []) {
      if (!S.watched.has(c.id) && !S.opening.has(c.id)) openConv(c.id);
    }
    if (S.current && !S.watched.has(S.current) && !S.opening.has(S.current)) {
      if (mine(S.current) || isSupervisor()) {
        openConv(S.current);
      } else if (S.firstState || !S.convs.has(S.current)) {
        setCurrent(''); // a reload after the conversation was handed back or transferred
      }
    }
    S.firstState = false;
    // Resend what was not acknowledged before the connection was lost (the server drops
    // duplicates by id).
    S.convs.forEach(function (c) {
      c.pending.forEach(function (p) { if (!p.seq && !p.failed && p.sentOn !== S.ws) { p.sentOn = S.ws; send(p.frame); } });
    });
    renderAll();
    maybeSuggest();
  }

  // maybeSuggest asks for suggestions once for the conversation on screen, as soon as the
  // agent may answer in it.
  function maybeSuggest() {
    const c = S.current && S.convs.get(S.current);
    if (c && canAct(c) && !c.suggestions && !c.suggestLoading) suggest();
  }

  function openConv(id) {
    S.opening.add(id);
    send({ type: 'open', conversation_id: id });
  }

  function onHistory(f) {
    const id = f.conversation_id;
    if (!id) return;
    const c = conv(id);
    const fresh = !mine(id) && !S.opening.has(id);
    c.info = f.conversation || c.info || { id: id };
    c.msgs = new Map();
    for (const m of f.messages || []) c.msgs.set(m.seq, m);
    c.pending.forEach(function (p, pid) { if (p.seq && c.msgs.has(p.seq)) c.pending.delete(pid); });
    c.notes = f.notes || [];
    c.loaded = true;
    S.watched.add(id);
    S.opening.delete(id);
    if (S.wantView === id || S.wantNext && fresh) {
      S.wantView = '';
      S.wantNext = false;
      view(id, true);
      return;
    }
    if (S.current === id) renderConversation();
    renderMine();
    maybeSuggest();
  }

  function onMessage(f) {
    const id = f.conversation_id;
    const m = f.message;
    if (!id || !m) return;
    const c = conv(id);
    c.msgs.set(m.seq, m);
    if (m.from === 'agent' && m.client_id && m.client_id.indexOf('agent:') === 0) {
      c.pending.delete(m.client_id.slice(6));
    }
    if (m.from === 'visitor') setTyping(c, false);
    if (c.info) {
      if (m.kind === 'event') {
        const next = { agent_joined: 'agent', agent_left: 'bot', closed: 'closed', queued: 'queued' }[m.event];
        if (next) c.info.state = next;
        if (m.event === 'language' && m.lang) c.info.lang = m.lang;
      } else if (m.from === 'bot' && m.lang) {
        c.info.lang = m.lang;
      }
    }
    if (S.current === id) {
      appendMessage(c, m);
      if (m.kind === 'event') renderConversation();
    } else if (m.from === 'visitor') {
      c.unread++;
    }
    renderMine();
  }

  function onTyping(f) {
    if (f.from !== 'visitor') return;
    // The server's visitor typing frames lack conversation_id (server/hub.go): without it,
    // they can only be about the one conversation this connection watches, if it watches
    // one; with several, showing it on the wrong one would be worse than not at all.
    let id = f.conversation_id;
    if (!id && S.watched.size === 1) id = S.watched.values().next().value;
    if (!id) return;
    setTyping(conv(id), !!f.on);
  }

  function setTyping(c, on) {
    clearTimeout(c.typingTimer);
    c.typing = on;
    if (on) c.typingTimer = setTimeout(function () { setTyping(c, false); }, TYPING_SHOW);
    if (S.current === c.id) $('typing').hidden = !on;
    renderMine();
  }

  function onSuggestions(f) {
    const c = conv(f.conversation_id);
    c.suggestions = f.suggestions || [];
    c.suggestLoading = false;
    c.cannedVisitor = {};
    c.cannedText = {};
    for (const x of f.canned || []) {
      c.cannedVisitor[x.id] = x.visitor_text;
      c.cannedText[x.id] = x.text;
    }
    if (S.current === c.id) renderTools();
  }

  function onNote(f) {
    const c = conv(f.conversation_id);
    for (const n of f.notes || []) c.notes.push(n);
    if (S.current === c.id) renderNotes(c);
  }

  function onAck(f) {
    if (!f.conversation_id) return;
    const c = conv(f.conversation_id);
    const p = c.pending.get(f.id);
    if (!p) return;
    if (c.msgs.has(f.seq)) c.pending.delete(f.id);
    else p.seq = f.seq;
    if (S.current === c.id) renderTranscript(c);
  }

  function onError(f) {
    const e = f.error || {};
    const id = f.conversation_id || '';
    if (e.code === 'restarting') return; // the server restarts: the close follows, then we reconnect
    if (id && e.ref) {
      const p = conv(id).pending.get(e.ref);
      if (p) {
        p.failed = e.message || e.code;
        if (S.current === id) renderTranscript(conv(id));
        return;
      }
    }
    if (id && S.opening.has(id)) {
      // Not ours to open (any more): drop it quietly.
      S.opening.delete(id);
      if (S.current === id && !conv(id).loaded) setCurrent('');
      renderConversation();
      return;
    }
    if (S.wantNext && !id && e.code === 'not_found') {
      S.wantNext = false;
      showAlert(I.t('ConsoleNoneWaiting'));
      return;
    }
    if (id && S.wantView === id) {
      S.wantView = '';
      showAlert(I.t(e.code === 'forbidden' ? 'ConsoleAtCapacity' : 'ConsoleClaimFailed'));
      return;
    }
    if (id) {
      const c = conv(id);
      if (c.suggestLoading) { c.suggestLoading = false; renderTools(); }
    }
    showAlert(e.message || e.code || '?');
  }

  function showAlert(text) {
    const el = $('alert');
    el.textContent = text;
    el.hidden = false;
    clearTimeout(S.alertTimer);
    S.alertTimer = setTimeout(function () { el.hidden = true; }, 8000);
  }

  // ---- formatting ----

  function fmtDuration(secs) {
    secs = Math.max(0, Math.floor(secs));
    const hh = Math.floor(secs / 3600);
    const mm = Math.floor(secs % 3600 / 60);
    const ss = String(secs % 60).padStart(2, '0');
    return hh ? hh + ':' + String(mm).padStart(2, '0') + ':' + ss : mm + ':' + ss;
  }

  function fmtTime(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return '';
    const sameDay = new Date().toDateString() === d.toDateString();
    return new Intl.DateTimeFormat(I.lang, sameDay ? { hour: '2-digit', minute: '2-digit' } :
      { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }).format(d);
  }

  function timeEl(iso) {
    return h('time', { datetime: iso, text: fmtTime(iso) });
  }

  function camel(s) {
    return String(s || '').split('_').map(function (w) { return w.charAt(0).toUpperCase() + w.slice(1); }).join('');
  }

  // named renders a message id built from a code (ConsoleReason + low_confidence), or the
  // code itself when the catalog has no such message.
  function named(prefix, code) {
    if (!code) return '';
    const id = prefix + camel(code);
    const s = I.t(id);
    return s === id ? code : s;
  }

  function langBadge(code) {
    return h('span', { class: 'lang-badge', title: I.langName(code), text: (code || '?').toUpperCase() });
  }

  function shortID(id) { return String(id).slice(0, 8); }

  // keepFocus re-renders a list and gives the focus back to the element with the same
  // data-key, so that a state update never throws the keyboard user out.
  function keepFocus(container, fn) {
    const a = document.activeElement;
    const key = a && container.contains(a) ? a.dataset.key : '';
    fn();
    if (key) {
      const b = Array.from(container.querySelectorAll('[data-key]')).find(function (x) { return x.dataset.key === key; });
      if (b) b.focus();
    }
  }

  // ---- rendering: the header and the sidebar ----

  function renderAll() {
    renderHeader();
    renderQueue();
    renderMine();
    renderStats();
    renderAllConvs();
    renderLeft();
    renderConversation();
  }

  function renderHeader() {
    const a = S.state && S.state.agent;
    $('me-name').textContent = (a && a.name) || (S.me && S.me.name) || '';
    $('me-role').textContent = I.t(isSupervisor() ? 'ConsoleRoleSupervisor' : 'ConsoleRoleAgent');
    if (a) {
      $('capacity').textContent = I.t('ConsoleCapacity', { Active: a.active, Max: a.max_chats });
      $('capacity').classList.toggle('full', a.active >= a.max_chats);
      $('presence').value = a.status === 'away' ? 'away' : 'online';
      $('presence').dataset.status = a.status;
    }
  }

  function renderQueue() {
    const q = (S.state && S.state.queue) || [];
    $('queue-count').textContent = q.length ? I.n('ConsoleWaitingCount', q.length) : '';
    $('queue-empty').hidden = q.length > 0;
    $('take-next').disabled = !q.length || !S.connected;
    const ul = $('queue');
    keepFocus(ul, function () {
      ul.replaceChildren.apply(ul, q.map(function (it) {
        const qid = 'q-' + it.conversation_id;
        return h('li', { class: 'item queue-item', dataset: { id: it.conversation_id } },
          h('div', { class: 'item-top' },
            langBadge(it.lang),
            h('span', { class: 'tag', text: named('ConsoleChannel', it.channel) }),
            h('span', { class: 'tag reason', text: named('ConsoleReason', it.reason) }),
            h('span', { class: 'wait js-wait', dataset: { base: it.wait_seconds }, title: I.t('ConsoleWaited'), text: fmtDuration(it.wait_seconds) })),
          h('p', { id: qid, class: 'question', dir: 'auto', lang: it.lang, text: it.question || I.t('ConsoleNoQuestion') }),
          h('button', {
            type: 'button', class: 'claim small primary', dataset: { key: 'claim:' + it.conversation_id },
            'aria-describedby': qid, text: I.t('ConsoleClaim'), disabled: !S.connected,
            onclick: function () { claim(it.conversation_id); },
          }));
      }));
    });
  }

  function convRow(c, key, extra) {
    const cd = S.convs.get(c.id);
    const last = cd && Array.from(cd.msgs.values()).reverse().find(function (m) { return m.kind === 'message' && m.from === 'visitor'; });
    return h('li', { class: 'item conv-item' + (S.current === c.id ? ' current' : ''), dataset: { id: c.id } },
      h('button', {
        type: 'button', class: 'row-button', dataset: { key: key + ':' + c.id },
        'aria-current': S.current === c.id ? 'true' : null,
        onclick: function () { view(c.id, true); },
      },
      h('span', { class: 'item-top' },
        langBadge(c.lang),
        h('span', { class: 'conv-id', text: I.t('ConsoleConversation', { ID: shortID(c.id) }) }),
        extra,
        cd && cd.unread ? h('span', { class: 'unread', text: I.n('ConsoleUnread', cd.unread) }) : null),
      last ? h('span', { class: 'snippet', dir: 'auto', text: last.text }) : null,
      cd && cd.typing ? h('span', { class: 'typing-dot', text: I.t('ConsoleVisitorTyping') }) : null));
  }

  function renderMine() {
    const list = (S.state && S.state.mine) || [];
    $('mine-empty').hidden = list.length > 0;
    const ul = $('mine');
    keepFocus(ul, function () {
      ul.replaceChildren.apply(ul, list.map(function (c) { return convRow(c, 'mine', null); }));
    });
  }

  function renderAllConvs() {
    const sup = isSupervisor();
    $('all-section').hidden = !sup;
    if (!sup) return;
    const list = (S.state && S.state.all) || [];
    $('all-empty').hidden = list.length > 0;
    const ul = $('all');
    keepFocus(ul, function () {
      ul.replaceChildren.apply(ul, list.map(function (c) {
        return convRow(c, 'all', h('span', { class: 'tag', text: I.t('ConsoleHeldBy', { Name: c.agent || c.agent_id }) }));
      }));
    });
  }

  function renderStats() {
    const st = S.state && S.state.stats;
    $('stats-section').hidden = !st;
    if (!st) return;
    const byLang = Object.keys(st.waiting_by_lang || {}).sort().map(function (l) {
      return h('li', null, langBadge(l), ' ', I.langName(l), ' ', h('strong', { text: String(st.waiting_by_lang[l]) }));
    });
    const row = function (label, value, cls) {
      return [h('dt', { text: I.t(label) }), h('dd', { class: cls || null }, value)];
    };
    $('stats').replaceChildren.apply($('stats'), [].concat(
      row('ConsoleStatWaiting', String(st.waiting)),
      row('ConsoleStatLongestWait', h('span', { class: st.waiting ? 'js-wait' : null, dataset: { base: st.longest_wait_seconds || 0 }, text: fmtDuration(st.longest_wait_seconds || 0) })),
      row('ConsoleStatFirstResponse', fmtDuration(st.first_response_seconds || 0)),
      row('ConsoleStatHandledToday', String(st.handled_today)),
      row('ConsoleStatActive', String(st.active)),
      row('ConsoleStatAgentsOnline', String(st.agents_online)),
      row('ConsoleStatWaitingByLang', byLang.length ? h('ul', { class: 'by-lang' }, byLang) : '–', 'wide')));
  }

  function renderLeft() {
    const list = (S.state && S.state.left_messages) || [];
    $('left-empty').hidden = list.length > 0;
    $('left-count').textContent = list.length ? String(list.length) : '';
    const ul = $('left');
    keepFocus(ul, function () {
      ul.replaceChildren.apply(ul, list.map(function (m) {
        return h('li', { class: 'item left-item' },
          h('div', { class: 'item-top' }, langBadge(m.lang), timeEl(m.time)),
          h('p', { class: 'contact', dir: 'auto', text: I.t('ConsoleContact', { Contact: m.contact }) }),
          h('p', { class: 'left-text', dir: 'auto', lang: m.lang, text: m.text }),
          isSupervisor() && m.conversation_id ? h('button', {
            type: 'button', class: 'small', dataset: { key: 'left:' + m.id }, text: I.t('ConsoleOpenConversation'),
            onclick: function () { view(m.conversation_id, true); },
          }) : null);
      }));
    });
  }

  // tick makes the waiting times run between state updates.
  function tick() {
    const elapsed = Math.floor((Date.now() - S.stateAt) / 1000);
    document.querySelectorAll('.js-wait').forEach(function (el) {
      el.textContent = fmtDuration(Number(el.dataset.base || 0) + elapsed);
    });
  }

  // ---- the conversation on screen ----

  function setCurrent(id) {
    S.current = id;
    if (id) sessionStorage.setItem(OPEN_KEY, id);
    else sessionStorage.removeItem(OPEN_KEY);
  }

  // view shows a conversation, opening it (history, live frames) when this connection does
  // not watch it yet.
  function view(id, focus) {
    if (S.current && S.current !== id) stopTyping();
    setCurrent(id);
    const c = conv(id);
    c.unread = 0;
    if (!S.watched.has(id) && !S.opening.has(id)) openConv(id);
    renderMine();
    renderAllConvs();
    renderConversation();
    maybeSuggest();
    if (focus) {
      const r = $('reply');
      if (!r.disabled) r.focus();
      else $('conversation').focus();
    }
  }

  function renderConversation() {
    const id = S.current;
    $('no-conversation').hidden = !!id;
    $('conv').hidden = !id;
    $('tools').hidden = !id;
    document.body.classList.toggle('has-conv', !!id);
    if (!id) return;
    const c = conv(id);
    const info = c.info || {};
    const as = assignment(id);
    $('conv-title').textContent = I.t('ConsoleConversation', { ID: shortID(id) });
    const meta = [];
    if (info.lang) meta.push(h('span', { class: 'tag' }, langBadge(info.lang), ' ', I.langName(info.lang) + (info.script === 'Hant' ? ' (' + I.t('ConsoleTraditional') + ')' : '')));
    if (info.channel) meta.push(h('span', { class: 'tag', text: named('ConsoleChannel', info.channel) }));
    if (info.state) meta.push(h('span', { class: 'tag state-' + info.state, text: named('ConsoleState', info.state) }));
    if (as && as.agent && !mine(id)) meta.push(h('span', { class: 'tag', text: I.t('ConsoleHeldBy', { Name: as.agent }) }));
    if (as && as.since) meta.push(h('span', { class: 'tag', text: I.t('ConsoleSince', { Time: fmtTime(as.since) }) }));
    $('conv-meta').replaceChildren.apply($('conv-meta'), meta);
    $('conv-delivery').hidden = !info.delivery;
    $('conv-delivery').textContent = info.delivery ? I.t('ConsoleDelivery', { Reason: info.delivery }) : '';
    const act = canAct(c);
    const ended = $('conv-ended');
    let notice = '';
    if (!c.loaded) notice = S.connected ? I.t('ConsoleLoading') : '';
    else if (!S.connected) notice = '';
    else if (info.state === 'closed') notice = I.t('ConsoleEndedClosed');
    else if (info.state === 'bot') notice = I.t('ConsoleEndedBot');
    else if (info.state === 'queued') notice = I.t('ConsoleEndedQueued');
    else if (!act) notice = I.t('ConsoleEnded');
    ended.replaceChildren();
    ended.hidden = !notice;
    if (notice) {
      ended.append(h('span', { text: notice }));
      if (c.loaded && !act) {
        ended.append(' ', h('button', { type: 'button', class: 'small', id: 'dismiss', text: I.t('ConsoleDismiss'), onclick: function () {
          setCurrent('');
          renderAll();
          $('conversation').focus();
        } }));
      }
    }
    $('typing').hidden = !c.typing;
    $('reply').disabled = !act;
    $('send').disabled = !act;
    const draft = sessionStorage.getItem(DRAFT_KEY + id) || '';
    if ($('reply').dataset.conv !== id) {
      $('reply').dataset.conv = id;
      $('reply').value = draft;
    }
    renderTranscript(c);
    renderTools();
  }

  function nearBottom(el) {
    return el.scrollHeight - el.scrollTop - el.clientHeight < 80;
  }

  function renderTranscript(c) {
    if (S.current !== c.id) return;
    const ol = $('transcript');
    const stick = nearBottom(ol) || !ol.dataset.conv || ol.dataset.conv !== c.id;
    ol.dataset.conv = c.id;
    const msgs = Array.from(c.msgs.values()).sort(function (a, b) { return a.seq - b.seq; });
    const items = msgs.map(renderMsg);
    c.pending.forEach(function (p) { if (!(p.seq && c.msgs.has(p.seq))) items.push(renderPending(c, p)); });
    ol.replaceChildren.apply(ol, items);
    if (stick) ol.scrollTop = ol.scrollHeight;
  }

  // appendMessage adds one live message without redrawing the rest (screen readers announce
  // only the new one).
  function appendMessage(c, m) {
    const ol = $('transcript');
    if (ol.dataset.conv !== c.id) { renderTranscript(c); return; }
    const seqs = ol.querySelectorAll('li[data-seq]');
    const lastSeq = seqs.length ? Number(seqs[seqs.length - 1].dataset.seq) : 0;
    if (m.seq <= lastSeq || ol.querySelector('li.pending')) { renderTranscript(c); return; }
    const stick = nearBottom(ol);
    ol.append(renderMsg(m));
    if (stick) ol.scrollTop = ol.scrollHeight;
  }

  function renderMsg(m) {
    if (m.kind === 'event') {
      return h('li', { class: 'msg event ev-' + (m.event || ''), dataset: { seq: m.seq } },
        h('p', { class: 'text', dir: 'auto', lang: m.lang || null, text: m.text || named('ConsoleEvent', m.event) }),
        timeEl(m.time));
    }
    let who;
    if (m.from === 'visitor') who = I.t('ConsoleFromVisitor');
    else if (m.from === 'bot') who = I.t('ConsoleFromBot');
    else if (m.from === 'agent') who = m.agent ? I.t('ConsoleFromAgentNamed', { Name: m.agent }) : I.t('ConsoleFromAgent');
    else who = m.from;
    const meta = [];
    const a = m.answer;
    if (a && m.from === 'bot') {
      if (a.handoff) meta.push(h('span', { class: 'meta-handoff', text: I.t('ConsoleHandoffMeta', { Reason: named('ConsoleReason', a.reason) }) }));
      if (a.faq_id) meta.push(h('span', { class: 'meta-faq', text: I.t('ConsoleFAQMeta', { ID: a.faq_id }) }));
      if (typeof a.confidence === 'number' && !a.offer_agent) meta.push(h('span', { class: 'meta-confidence', text: I.t('ConsoleConfidenceMeta', { Value: a.confidence.toFixed(2) }) }));
    } else if (a && m.from === 'agent' && a.faq_id) {
      meta.push(h('span', { class: 'meta-faq', text: I.t('ConsoleFAQMeta', { ID: a.faq_id }) }));
    }
    if (m.lang && m.from !== 'visitor') meta.push(h('span', { class: 'meta-lang', text: I.t(m.from === 'bot' && a && !a.offer_agent ? 'ConsoleDetectedLang' : 'ConsoleLangMeta', { Lang: I.langName(m.lang) }) }));
    return h('li', { class: 'msg from-' + m.from, dataset: { seq: m.seq } },
      h('div', { class: 'msg-head' }, h('span', { class: 'who', text: who }), timeEl(m.time)),
      h('p', { class: 'text', dir: 'auto', lang: m.lang || null, text: m.text || '' }),
      meta.length ? h('p', { class: 'msg-meta' }, meta) : null);
  }

  function renderPending(c, p) {
    return h('li', { class: 'msg from-agent pending' + (p.failed ? ' failed' : ''), dataset: { pending: p.frame.id } },
      h('div', { class: 'msg-head' }, h('span', { class: 'who', text: I.t('ConsoleFromAgent') }),
        h('span', { class: 'status', text: p.failed ? I.t('ConsoleNotSent') : I.t('ConsoleSending') })),
      h('p', { class: 'text', dir: 'auto', text: p.text }),
      p.failed ? h('p', { class: 'msg-meta' }, h('span', { text: p.failed }), ' ',
        h('button', { type: 'button', class: 'small', text: I.t('ConsoleRetry'), onclick: function () {
          p.failed = '';
          send(p.frame);
          renderTranscript(c);
        } })) : null);
  }

  // ---- the tools beside the conversation ----

  function renderTools() {
    const id = S.current;
    if (!id) return;
    const c = conv(id);
    const act = canAct(c);
    // Reading language: one of the agent's languages.
    // A <select> the agent is using is left alone: rebuilding it would close it.
    const rl = $('read-lang');
    const langs = (S.me && S.me.langs) || [];
    if (document.activeElement !== rl) {
      rl.replaceChildren.apply(rl, langs.map(function (l) { return h('option', { value: l, text: I.langName(l) }); }));
      rl.value = S.readLang;
    }
    $('suggest').disabled = !act || c.suggestLoading;
    $('suggest').setAttribute('aria-busy', c.suggestLoading ? 'true' : 'false');
    // Suggestions.
    const ul = $('suggestions');
    const list = c.suggestions || [];
    $('suggestions-empty').hidden = !(c.suggestions && !list.length);
    keepFocus(ul, function () {
      ul.replaceChildren.apply(ul, list.map(function (s, i) {
        const vid = 'sv-' + i;
        return h('li', { class: 'card suggestion', dataset: { faq: s.faq_id } },
          h('div', { class: 'card-top' },
            h('span', { class: 'meta-faq', text: I.t('ConsoleFAQMeta', { ID: s.faq_id }) }),
            h('span', { class: 'meta-confidence', text: I.t('ConsoleConfidenceMeta', { Value: s.confidence.toFixed(2) }) })),
          h('p', { class: 'sq', dir: 'auto', lang: c.suggestLang || S.readLang, text: s.question }),
          h('details', null,
            h('summary', { text: I.t('ConsoleShowAnswer') }),
            h('p', { class: 'sa', dir: 'auto', lang: c.suggestLang || S.readLang, text: s.answer })),
          h('p', { class: 'preview-label', text: I.t('ConsoleVisitorWillRead', { Lang: I.langName(c.info && c.info.lang) }) }),
          h('p', { id: vid, class: 'preview', dir: 'auto', lang: (c.info && c.info.lang) || null, text: s.visitor_text }),
          h('button', {
            type: 'button', class: 'small primary send-faq', dataset: { key: 'faq:' + s.faq_id, faq: s.faq_id },
            'aria-describedby': vid, disabled: !act, text: I.t('ConsoleSendThis'),
            onclick: function () { sendAction({ type: 'send_faq', faq_id: s.faq_id }, s.visitor_text); },
          }));
      }));
    });
    // Canned responses.
    const cu = $('canned');
    keepFocus(cu, function () {
      cu.replaceChildren.apply(cu, S.canned.map(function (x) {
        const vt = c.cannedVisitor[x.id];
        const text = c.cannedText[x.id] || x.text; // in the reading language once suggested
        return h('li', { class: 'card canned-item', dataset: { canned: x.id } },
          h('p', { class: 'canned-text', dir: 'auto', lang: c.cannedText[x.id] ? c.suggestLang : null, text: text }),
          vt && vt !== text ? h('p', { class: 'preview', dir: 'auto', lang: (c.info && c.info.lang) || null, text: vt }) : null,
          h('button', {
            type: 'button', class: 'small send-canned', dataset: { key: 'canned:' + x.id }, disabled: !act,
            'aria-label': I.t('ConsoleSendCanned', { Text: text }), text: I.t('ConsoleSend'),
            onclick: function () { sendAction({ type: 'send_canned', canned: x.id }, vt || text); },
          }));
      }));
    });
    // Transfer: another agent, or a language group.
    const ts = $('transfer-to');
    if (document.activeElement === ts) {
      ['transfer', 'handback', 'close', 'transfer-to', 'resolution', 'note', 'add-note'].forEach(function (b) { $(b).disabled = !act; });
      renderNotes(c);
      return;
    }
    const prev = ts.value;
    const agents = ((S.state && S.state.agents) || []).filter(function (a) { return !S.me || a.id !== S.me.id; });
    const ga = h('optgroup', { label: I.t('ConsoleTransferAgents') }, agents.map(function (a) {
      return h('option', { value: 'agent:' + a.id, disabled: a.status === 'offline' || a.active >= a.max_chats,
        text: I.t('ConsoleTransferAgentOption', { Name: a.name, Status: named('ConsolePresence', a.status), Active: a.active, Max: a.max_chats }) });
    }));
    const gl = h('optgroup', { label: I.t('ConsoleTransferLangs') }, I.LANGS.map(function (l) {
      return h('option', { value: 'lang:' + l, text: I.t('ConsoleTransferLangOption', { Lang: I.langName(l) }) });
    }));
    if (agents.length) ts.replaceChildren(ga, gl);
    else ts.replaceChildren(gl);
    if (prev && Array.from(ts.options).some(function (o) { return o.value === prev && !o.disabled; })) ts.value = prev;
    else ts.value = 'lang:' + ((c.info && c.info.lang) || 'en');
    for (const b of ['transfer', 'handback', 'close', 'transfer-to', 'resolution', 'note', 'add-note']) $(b).disabled = !act;
    renderNotes(c);
  }

  function renderNotes(c) {
    const ul = $('notes');
    ul.replaceChildren.apply(ul, c.notes.map(function (n) {
      return h('li', { class: 'note' },
        h('div', { class: 'msg-head' }, h('span', { class: 'who', text: n.agent }), timeEl(n.time)),
        h('p', { class: 'text', dir: 'auto', text: n.text }));
    }));
  }

  // ---- actions ----

  function claim(id) {
    S.wantView = id;
    if (!send({ type: 'claim', conversation_id: id })) S.wantView = '';
  }

  // sendAction sends a message-like action (reply, send_faq, send_canned) with a new id and
  // shows it as pending until the server stores it.
  function sendAction(frame, preview) {
    const c = conv(S.current);
    if (!canAct(c)) return;
    frame.conversation_id = c.id;
    frame.id = newID();
    c.pending.set(frame.id, { frame: frame, text: preview, seq: 0, failed: '', sentOn: S.ws });
    send(frame);
    stopTyping();
    renderTranscript(c);
    $('transcript').scrollTop = $('transcript').scrollHeight;
  }

  function suggest() {
    const c = conv(S.current);
    if (!canAct(c)) return;
    c.suggestLoading = true;
    c.suggestLang = S.readLang;
    if (!send({ type: 'suggest', conversation_id: c.id, lang: S.readLang })) c.suggestLoading = false;
    renderTools();
  }

  function stopTyping() {
    clearTimeout(S.typingTimer);
    if (S.typingConv) send({ type: 'typing', conversation_id: S.typingConv, on: false });
    S.typingConv = '';
    S.typingAt = 0;
  }

  function typed() {
    const id = S.current;
    if (!id || !canAct(conv(id))) return;
    if (S.typingConv && S.typingConv !== id) stopTyping();
    const now = Date.now();
    if (S.typingConv !== id || now - S.typingAt > TYPING_REPEAT) {
      send({ type: 'typing', conversation_id: id, on: true });
      S.typingConv = id;
      S.typingAt = now;
    }
    clearTimeout(S.typingTimer);
    S.typingTimer = setTimeout(stopTyping, TYPING_IDLE);
  }

  function wire() {
    $('reply-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      const r = $('reply');
      const text = r.value.trim();
      if (!text) return;
      sendAction({ type: 'reply', text: text }, text);
      r.value = '';
      sessionStorage.removeItem(DRAFT_KEY + S.current);
      r.focus();
    });
    $('reply').addEventListener('keydown', function (ev) {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
        ev.preventDefault();
        $('reply-form').requestSubmit();
      }
    });
    // A keypress of Enter would still insert a line break after the keydown sent it.
    $('reply').addEventListener('keypress', function (ev) {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) ev.preventDefault();
    });
    $('reply').addEventListener('input', function () {
      if (S.current) sessionStorage.setItem(DRAFT_KEY + S.current, $('reply').value);
      typed();
    });
    $('reply').addEventListener('blur', stopTyping);
    $('take-next').addEventListener('click', function () {
      const a = S.state && S.state.agent;
      if (a && a.active >= a.max_chats) {
        showAlert(I.t('ConsoleAtCapacity'));
        return;
      }
      S.wantNext = send({ type: 'next' });
    });
    $('suggest').addEventListener('click', suggest);
    $('read-lang').addEventListener('change', function () {
      S.readLang = $('read-lang').value;
      try { localStorage.setItem(READ_KEY, S.readLang); } catch (e) { /* not kept */ }
      suggest();
    });
    $('transfer').addEventListener('click', function () {
      const v = $('transfer-to').value;
      if (!v || !S.current) return;
      const f = { type: 'transfer', conversation_id: S.current };
      if (v.indexOf('agent:') === 0) f.to_agent = v.slice(6); else f.to_lang = v.slice(5);
      send(f);
    });
    $('handback').addEventListener('click', function () {
      if (S.current) send({ type: 'handback', conversation_id: S.current });
    });
    $('close').addEventListener('click', function () {
      if (S.current) send({ type: 'close', conversation_id: S.current, resolution: $('resolution').value });
    });
    $('note-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      const text = $('note').value.trim();
      if (!text || !S.current) return;
      if (send({ type: 'note', conversation_id: S.current, text: text })) $('note').value = '';
    });
    $('presence').addEventListener('change', function () {
      send({ type: 'presence', status: $('presence').value });
    });
    $('console-lang').addEventListener('change', async function () {
      const l = $('console-lang').value;
      I.remember(l);
      await setLang(l);
      // The reading language follows the console's, unless the agent chose one.
      if (!storedReadLang() && (S.me.langs || []).includes(I.lang) && S.readLang !== I.lang) {
        S.readLang = I.lang;
        S.convs.forEach(function (c) { c.suggestions = null; });
        maybeSuggest();
      }
      renderAll();
    });
    $('logout').addEventListener('click', async function () {
      try {
        await fetch('/console/api/logout', { method: 'POST', credentials: 'same-origin', headers: { 'X-CSRF-Token': S.csrf } });
      } catch (e) { /* the cookie expires anyway */ }
      sessionStorage.removeItem(OPEN_KEY);
      location.replace('/console/login');
    });
  }

  async function setLang(l) {
    try {
      await I.load(l);
    } catch (e) {
      /* the ids show instead of the text */
    }
    I.apply(document);
    I.fillLangSelect($('console-lang'), I.lang);
    setConn($('conn').dataset.status || 'connecting');
  }

  function storedReadLang() {
    try { return localStorage.getItem(READ_KEY) || ''; } catch (e) { return ''; }
  }

  async function start() {
    let r;
    try {
      r = await fetch('/console/api/me', { credentials: 'same-origin' });
    } catch (e) {
      r = null;
    }
    if (r && r.status === 401) {
      location.replace('/console/login');
      return;
    }
    if (r && r.ok) {
      const j = await r.json();
      S.me = j.agent;
      S.csrf = j.csrf;
    } else {
      S.me = { langs: ['en'], name: '', role: 'agent' };
    }
    const langs = S.me.langs || ['en'];
    await setLang(I.stored() || I.supported(langs) || 'en');
    const read = storedReadLang();
    S.readLang = langs.includes(read) ? read : langs.includes(I.lang) ? I.lang : langs[0];
    wire();
    renderAll();
    document.body.classList.remove('loading');
    connect();
    setInterval(tick, 1000);
  }

  start();
})();
