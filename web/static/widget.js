// hotline website chat widget. One tag on any page:
//
//   <script src="https://HOST/widget.js" async></script>
//
// Optional attributes on that tag:
//   data-lang      zh, zh-TW, en, fr, es, ru, ar or auto (default: the page's <html lang>, then
//                  the browser's languages; when none is supported the widget asks)
//   data-position  right (default) or left
//   data-color     the accent colour, any CSS colour
//   data-server    the hotline server's address (default: this script's origin)
//   data-open      "true" opens the panel on load
//
// It adds a launcher button and a chat panel in a shadow root, talks to the server over the
// WebSocket of docs/protocol.md, and takes every text it shows from /api/v1/strings/{lang}.
// Whatever comes from the server or the visitor is inserted as text (textContent, Text nodes),
// never parsed as HTML. It needs no inline script or style, so it runs under a strict
// Content-Security-Policy; the host page must allow this server in script-src and connect-src.
(() => {
  'use strict';

  const me = document.currentScript || [...document.scripts].find((s) => /\/widget\.js([?#]|$)/.test(s.src));
  if (!me || !window.WebSocket || !window.fetch || !Element.prototype.attachShadow) return;
  const ds = me.dataset;
  let base;
  try {
    base = new URL(ds.server || me.src, location.href).origin;
  } catch {
    return;
  }
  // One widget per server, however many times the tag is on the page.
  for (const el of document.getElementsByTagName('hotline-chat')) if (el.dataset.server === base) return;

  const LANGS = ['zh', 'en', 'fr', 'es', 'ru', 'ar'];
  // The language menu: the value sent in hello.lang and lang frames, and its name's message id.
  const CHOICES = [['zh-CN', 'WidgetLangZh'], ['zh-TW', 'WidgetLangZhHant'], ['en', 'WidgetLangEn'],
    ['fr', 'WidgetLangFr'], ['es', 'WidgetLangEs'], ['ru', 'WidgetLangRu'], ['ar', 'WidgetLangAr']];
  const MAX_CHARS = 2000; // docs/protocol.md 13.1
  const MAX_CONTACT = 200; // leave_message's contact (11.8)
  const KEEP = 500; // messages of the transcript kept in localStorage
  const ACK_WAIT = 10000; // no ack within this: the connection is dead (8.2)
  const SYNC_WAIT = 5000; // no sync reply within this: ask again (8.6)
  const TYPING_IDLE = 4000; // the visitor stopped typing
  const AGENT_TYPING_MAX = 15000; // hide a typing indicator nobody turned off
  const KEY = 'hotline:' + base;
  const NS = 'http://www.w3.org/2000/svg';

  // pick maps a BCP 47 tag to a value of the language menu, or '' when unsupported.
  function pick(tag) {
    const t = String(tag || '').toLowerCase().replace(/_/g, '-');
    const l = t.split('-')[0];
    if (l === 'zh') return /-(hant|tw|hk|mo)(-|$)/.test(t) ? 'zh-TW' : 'zh-CN';
    return LANGS.includes(l) ? l : '';
  }

  // ---- storage: everything survives reloads and browser restarts --------------------------

  const disk = {
    get(k) {
      try {
        return JSON.parse(localStorage.getItem(k));
      } catch {
        return null;
      }
    },
    set(k, v) {
      try {
        localStorage.setItem(k, JSON.stringify(v));
      } catch {
        // Storage full or forbidden: the widget still works, without memory.
      }
    },
  };

  // The conversation as the widget keeps it. seq is the highest seq up to which every message
  // is held (hello's last_seq); outbox holds messages not yet acknowledged, oldest first. lm is
  // the leave-a-message offer: 1 after a no_agents event, 2 once the message is left.
  const blank = () => ({
    token: '', conv: '', seq: 0, lang: '', script: '', chosen: false, state: '', queue: null, agent: '',
    msgs: [], outbox: [], fb: {}, unread: 0, pendingLang: '', lm: 0,
  });
  let S = Object.assign(blank(), disk.get(KEY) || {});
  const M = new Map(); // seq -> message
  for (const m of S.msgs) if (m && m.seq > 0) M.set(m.seq, m);

  function save() {
    S.msgs = sorted().slice(-KEEP);
    disk.set(KEY, S);
  }
  const sorted = () => [...M.values()].sort((a, b) => a.seq - b.seq);

  // ---- text: the server's locales, Intl for numbers, plurals and dates --------------------

  let T = {}; // message id -> text or plural forms, of uiLang
  let uiLang = '';
  let loc = 'en'; // the Intl locale
  let nf, pr, timeFmt, dayTimeFmt, dateFmt;
  const tables = {};

  async function strings(lang) {
    if (tables[lang]) return tables[lang];
    const k = 'hotline:strings:' + base + ':' + lang;
    try {
      const r = await fetch(base + '/api/v1/strings/' + lang, { credentials: 'omit' });
      if (!r.ok) throw new Error('strings: ' + r.status);
      const j = await r.json();
      disk.set(k, j.messages);
      return (tables[lang] = j.messages);
    } catch (e) {
      const cached = disk.get(k); // offline: the copy from the last visit
      if (cached) return (tables[lang] = cached);
      throw e;
    }
  }

  // t renders message id: the plural form for data.Count, placeholders filled, numbers
  // formatted for the language. A missing message shows its id, as the server's catalog does.
  function t(id, data = {}) {
    let s = T[id];
    if (s && typeof s === 'object') s = s[pr.select(data.Count)] || s.other || '';
    if (typeof s !== 'string') return id;
    return s.replace(/\{\{\s*\.(\w+)\s*\}\}/g, (_, k) =>
      typeof data[k] === 'number' ? nf.format(data[k]) : data[k] == null ? '' : String(data[k]));
  }

  function setLocale() {
    const hant = S.pref === 'zh-TW' || (S.pref !== 'zh-CN' && S.script === 'Hant');
    loc = uiLang === 'zh' ? (hant ? 'zh-TW' : 'zh-CN') : uiLang;
    nf = new Intl.NumberFormat(loc);
    pr = new Intl.PluralRules(loc);
    timeFmt = new Intl.DateTimeFormat(loc, { hour: 'numeric', minute: '2-digit' });
    dayTimeFmt = new Intl.DateTimeFormat(loc, { dateStyle: 'medium', timeStyle: 'short' });
    dateFmt = new Intl.DateTimeFormat(loc, { dateStyle: 'long', timeZone: 'UTC' });
  }

  function fmtTime(iso) {
    const d = /^\d{4}-\d\d-\d\dT/.test(iso) ? new Date(iso) : NaN;
    if (isNaN(d)) return '';
    return (d.toDateString() === new Date().toDateString() ? timeFmt : dayTimeFmt).format(d);
  }

  function fmtDay(ymd) {
    const [y, m, d] = String(ymd).split('-').map(Number);
    const when = new Date(Date.UTC(y, m - 1, d));
    return isNaN(when) ? ymd : dateFmt.format(when);
  }

  // ---- DOM helpers: text only, never HTML ---------------------------------------------------

  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : v);
    }
    for (const c of kids.flat()) if (c != null && c !== false) el.append(c); // strings become Text nodes
    return el;
  }

  function icon(d) {
    const svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    const p = document.createElementNS(NS, 'path');
    p.setAttribute('d', d);
    svg.append(p);
    return svg;
  }
  const ICON = {
    chat: 'M5 4h14a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2h-8l-5 4v-4H5a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z',
    close: 'M6 6l12 12M18 6L6 18',
    send: 'M4 12l16-8-6 16-2.5-5.5z',
    compose: 'M4 20h4L19 9l-4-4L4 16zM13.5 6.5l4 4',
  };

  // ---- the interface ---------------------------------------------------------------------------

  const host = document.createElement('hotline-chat');
  host.dataset.server = base;
  const root = host.attachShadow({ mode: 'open' });
  const $ = {}; // the elements that change
  const rendered = new Map(); // seq or 'p:' + outbox id -> element in the log
  let sugg = null; // the suggestions under the last message
  let isOpen = false;

  function build() {
    $.badge = h('span', { class: 'badge', 'aria-hidden': 'true', hidden: true });
    $.unreadText = h('span', { class: 'vh', id: 'hl-unread' });
    $.launcher = h('button', {
      type: 'button', class: 'launcher', 'aria-expanded': 'false', 'aria-controls': 'hl-panel',
      'aria-describedby': 'hl-unread', onclick: () => (isOpen ? close() : open(true)),
    }, icon(ICON.chat), $.badge);
    $.title = h('h2', { id: 'hl-title' });
    $.subtitle = h('p', { class: 'sub' });
    $.select = h('select', { id: 'hl-lang', onchange: () => choose($.select.value) });
    $.selectLabel = h('label', { class: 'vh', for: 'hl-lang' });
    $.newBtn = h('button', { type: 'button', class: 'icon', onclick: askNew }, icon(ICON.compose));
    $.closeBtn = h('button', { type: 'button', class: 'icon', onclick: () => close() }, icon(ICON.close));
    $.confirmText = h('p', { id: 'hl-confirm-text' });
    $.confirmYes = h('button', { type: 'button', class: 'primary', onclick: () => newConversation() });
    $.confirmNo = h('button', { type: 'button', onclick: () => { $.confirm.hidden = true; $.newBtn.focus(); } });
    $.confirm = h('div', { class: 'confirm', role: 'alertdialog', 'aria-labelledby': 'hl-confirm-text', hidden: true },
      $.confirmText, h('div', { class: 'row' }, $.confirmYes, $.confirmNo));
    $.banner = h('div', { class: 'banner', role: 'status', hidden: true });
    // While waiting for a person: the place in the queue, and a way out of it.
    $.queue = h('p', { class: 'queue', role: 'status' });
    $.leave = h('button', { type: 'button', class: 'leave', onclick: () => ctl('cancel') });
    $.qbar = h('div', { class: 'qbar', hidden: true }, $.queue, $.leave);
    // No agent can come: a message and a way to be contacted (docs/protocol.md 11.8).
    const field = (tag, id, attrs) => [h('label', { for: id }), h(tag, Object.assign({ id, dir: 'auto', 'aria-describedby': 'hl-lm-err' }, attrs))];
    [$.lmContactLabel, $.lmContact] = field('input', 'hl-lm-contact', { type: 'text', spellcheck: 'false' });
    [$.lmTextLabel, $.lmText] = field('textarea', 'hl-lm-text', { rows: '3' });
    $.lmTitle = h('h3', { id: 'hl-lm-title' });
    $.lmErr = h('p', { class: 'err', id: 'hl-lm-err', role: 'alert' });
    $.lmSend = h('button', { type: 'submit', class: 'primary' });
    $.lm = h('form', { class: 'lm', 'aria-labelledby': 'hl-lm-title', novalidate: true, hidden: true, onsubmit: (e) => { e.preventDefault(); leaveMessage(); } },
      $.lmTitle, $.lmContactLabel, $.lmContact, $.lmTextLabel, $.lmText, $.lmErr, $.lmSend);
    $.log = h('div', { class: 'log', tabindex: '0', role: 'region' });
    $.typing = h('p', { class: 'typing', hidden: true });
    $.chooseTitle = h('h3', { id: 'hl-choose-title' });
    $.chooseList = h('div', { class: 'choices', role: 'group', 'aria-labelledby': 'hl-choose-title' });
    $.choose = h('div', { class: 'choose', hidden: true }, $.chooseTitle, $.chooseList);
    $.person = h('button', { type: 'button', class: 'person', onclick: talkToPerson });
    $.input = h('textarea', { id: 'hl-input', rows: '1', enterkeyhint: 'send', autocomplete: 'off', dir: 'auto' });
    $.inputLabel = h('label', { class: 'vh', for: 'hl-input' });
    $.send = h('button', { type: 'submit', class: 'send' }, icon(ICON.send));
    $.count = h('p', { class: 'count', 'aria-live': 'polite', hidden: true });
    $.form = h('form', { class: 'compose', onsubmit: (e) => { e.preventDefault(); sendInput(); } },
      $.inputLabel, $.input, $.send);
    $.restart = h('button', { type: 'button', class: 'primary wide', onclick: () => newConversation() });
    $.foot = h('div', { class: 'foot' }, $.person, $.form, $.count, $.restart);
    $.panel = h('section', { class: 'panel', id: 'hl-panel', role: 'dialog', 'aria-labelledby': 'hl-title', hidden: true },
      h('header', { class: 'head' },
        h('div', { class: 'titles' }, $.title, $.subtitle),
        h('div', { class: 'tools' }, $.selectLabel, $.select, $.newBtn, $.closeBtn)),
      $.confirm, $.banner, $.qbar, $.log, $.typing, $.choose, $.foot);
    $.live = h('div', { class: 'vh live', 'aria-live': 'polite', 'aria-relevant': 'additions' });
    $.probe = h('span', { class: 'probe', 'aria-hidden': 'true' });
    $.root = h('div', { class: 'hl' + (ds.position === 'left' ? ' left' : ''), hidden: true },
      $.launcher, $.unreadText, $.panel, $.live, $.probe);
    root.append($.root);

    $.panel.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && !e.isComposing) {
        e.preventDefault();
        if (!$.confirm.hidden) $.confirmNo.click();
        else close();
      }
    });
    let entered = false; // the Enter that sent: its line break must not reach the field
    $.input.addEventListener('keydown', (e) => {
      // Enter sends, Shift+Enter is a new line; never while an IME composes (Chinese input).
      entered = e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229;
      if (entered) {
        e.preventDefault();
        sendInput();
      }
    });
    $.input.addEventListener('beforeinput', (e) => {
      if (entered && (e.inputType === 'insertLineBreak' || e.inputType === 'insertParagraph')) e.preventDefault();
      entered = false;
    });
    $.input.addEventListener('input', onInput);
    document.body.append(host);
  }

  // applyStrings puts the current language's text on the fixed parts of the interface.
  function applyStrings() {
    const dir = uiLang === 'ar' ? 'rtl' : 'ltr';
    $.root.setAttribute('dir', dir);
    $.root.setAttribute('lang', loc);
    $.launcher.setAttribute('aria-label', t('WidgetOpen'));
    $.title.textContent = t('WidgetTitle');
    $.subtitle.textContent = t('WidgetSubtitle');
    $.log.setAttribute('aria-label', t('WidgetMessages'));
    $.selectLabel.textContent = t('WidgetLanguage');
    $.select.replaceChildren(
      h('option', { value: 'auto' }, t('WidgetLanguageAuto')),
      ...CHOICES.map(([v, id]) => h('option', { value: v, lang: v }, t(id))));
    $.select.value = S.pref || 'auto';
    $.newBtn.setAttribute('aria-label', t('WidgetNewConversation'));
    $.newBtn.title = t('WidgetNewConversation');
    $.closeBtn.setAttribute('aria-label', t('WidgetClose'));
    $.closeBtn.title = t('WidgetClose');
    $.confirmText.textContent = t('WidgetNewConversationConfirm');
    $.confirmYes.textContent = t('WidgetConfirm');
    $.confirmNo.textContent = t('WidgetCancel');
    $.chooseTitle.textContent = t('WidgetChooseLanguage');
    $.chooseList.replaceChildren(...CHOICES.map(([v, id]) =>
      h('button', { type: 'button', lang: v, onclick: () => choose(v) }, t(id))));
    $.person.textContent = t('TalkToPerson');
    $.inputLabel.textContent = t('WidgetInputLabel');
    $.input.placeholder = t('WidgetPlaceholder');
    $.send.setAttribute('aria-label', t('WidgetSend'));
    $.send.title = t('WidgetSend');
    $.restart.textContent = t('WidgetNewConversation');
    $.typing.textContent = t('WidgetAgentTyping');
    $.leave.textContent = t('WidgetLeaveQueue');
    $.lmTitle.textContent = t('WidgetLeaveMessage');
    $.lmContactLabel.textContent = t('WidgetContact');
    $.lmTextLabel.textContent = t('WidgetLeaveMessageText');
    $.lmSend.textContent = t('WidgetLeaveMessageSend');
    updateCount();
    renderAll();
  }

  // ---- the transcript --------------------------------------------------------------------------

  function renderAll() {
    $.log.replaceChildren();
    rendered.clear();
    sugg = null;
    suggKey = '';
    for (const m of sorted()) place(renderMsg(m), m.seq);
    for (const o of S.outbox) renderPending(o);
    chrome();
    scrollDown(true);
  }

  // place inserts el in seq order: before the first later message, unsent message or the
  // suggestions.
  function place(el, seq) {
    rendered.set(seq, el);
    let before = null;
    for (const c of $.log.children) {
      if (c === el) continue;
      if (c.dataset.id || c === sugg || c === $.lm || (c.dataset.seq && +c.dataset.seq > seq)) {
        before = c;
        break;
      }
    }
    $.log.insertBefore(el, before);
  }

  function sender(m) {
    if (m.from === 'visitor') return t('WidgetYou');
    if (m.from === 'agent') return S.agent || t('WidgetAgent');
    return t('WidgetAssistant');
  }

  function eventText(m) {
    switch (m.event) {
      case 'queued': {
        const parts = [];
        if (m.position > 0) parts.push(t('QueuePosition', { Count: m.position }));
        if (m.wait_minutes > 0) parts.push(t('QueueWait', { Count: m.wait_minutes }));
        return parts.join(' ') || m.text || '';
      }
      case 'agent_joined':
        return m.agent ? t('AgentJoined', { Name: m.agent }) : m.text || '';
      case 'agent_left':
        return t('AgentLeft');
      case 'closed':
        return t('ConversationClosed');
      default:
        return m.text || ''; // language, and events this widget does not know
    }
  }

  function renderMsg(m) {
    const time = h('time', { datetime: m.time }, fmtTime(m.time));
    if (m.kind === 'event') {
      return h('div', { class: 'event', 'data-seq': m.seq }, h('p', { dir: 'auto' }, eventText(m)), time);
    }
    const who = m.from === 'visitor' ? 'you' : m.from === 'agent' ? 'agent' : 'bot';
    const bubble = h('div', { class: 'bubble' }, h('p', { class: 'text', dir: 'auto' }, m.text || ''));
    const el = h('div', { class: 'msg ' + who, 'data-seq': m.seq },
      h('span', { class: who === 'agent' ? 'name' : 'vh' }, sender(m)), bubble, time);
    const a = m.answer;
    if (!a) return el;
    if (a.handoff) el.classList.add('handoff');
    if (a.source) {
      bubble.append(h('p', { class: 'src', dir: 'auto' },
        t('SourceLine', { Speaker: a.source.speaker, Outlet: a.source.outlet, Document: a.source.document })));
    }
    if (a.as_of) bubble.append(h('p', { class: 'asof' }, t('AsOf', { Date: fmtDay(a.as_of) })));
    if (a.offer_agent && S.state !== 'queued' && S.state !== 'agent' && S.state !== 'closed') {
      el.append(h('button', { type: 'button', class: 'chip', onclick: talkToPerson }, t('TalkToPerson')));
    }
    if (a.faq_id && !a.handoff && a.kind !== 'smalltalk' && a.kind !== 'handoff') el.append(feedbackEl(m.seq));
    return el;
  }

  function feedbackEl(seq) {
    const v = S.fb[seq];
    const btn = (yes) => h('button', {
      type: 'button', 'aria-pressed': String(v === yes), onclick: () => feedback(seq, yes),
    }, t(yes ? 'HelpfulYes' : 'HelpfulNo'));
    return h('div', { class: 'fb', role: 'group', 'aria-label': t('HelpfulPrompt') },
      h('span', { 'aria-hidden': 'true' }, t('HelpfulPrompt')), btn(true), btn(false),
      v !== undefined && h('span', { class: 'thanks' }, t('FeedbackThanks')));
  }

  function renderPending(o) {
    const el = h('div', { class: 'msg you pending', 'data-id': o.id },
      h('span', { class: 'vh' }, t('WidgetYou')),
      h('div', { class: 'bubble' }, h('p', { class: 'text', dir: 'auto' }, o.text)),
      h('span', { class: 'status', hidden: true }, t('WidgetPending')));
    rendered.set('p:' + o.id, el);
    $.log.insertBefore(el, tail());
    // Say "not sent yet" only when sending takes a while: an ack normally comes at once.
    setTimeout(() => { if (el.isConnected && el.classList.contains('pending')) el.lastChild.hidden = false; }, online() ? 2000 : 0);
  }

  // tail is what stays at the end of the log, below the messages: the leave-a-message form and
  // the suggestions.
  const tail = () => [$.lm, sugg].find((e) => e && e.parentNode === $.log) || null;

  function unrender(key) {
    const el = rendered.get(key);
    if (el) el.remove();
    rendered.delete(key);
  }

  // note shows a notice that is not part of the stored conversation (an error, say).
  function note(text, cls = 'note') {
    if (!text) return;
    const el = h('p', { class: cls, role: 'status', dir: 'auto' }, text);
    $.log.insertBefore(el, tail());
    scrollDown(true);
  }

  // suggestions: the starter questions before the visitor has asked anything, then the
  // related questions of the latest answer. Rebuilt only when they change, so that keyboard
  // focus on one of them stays.
  let suggKey = '';
  function suggestions() {
    let intro = '';
    let items = [];
    const all = sorted();
    if (started() && (S.state === 'bot' || !S.state) && all.length && !S.outbox.length) {
      const talk = all.filter((m) => m.kind === 'message');
      const last = talk[talk.length - 1];
      if (!talk.some((m) => m.from === 'visitor')) {
        intro = t('WidgetStartersIntro');
        items = [t('WidgetStarter1'), t('WidgetStarter2'), t('WidgetStarter3')];
      } else if (last && last.from === 'bot' && last.answer && last.answer.related && last.answer.related.length) {
        intro = t('RelatedIntro');
        items = last.answer.related.map((r) => r.question);
      }
    }
    const key = JSON.stringify([intro, items]);
    if (key === suggKey && (!intro || (sugg && sugg === $.log.lastElementChild))) return;
    suggKey = key;
    if (sugg) sugg.remove();
    sugg = null;
    if (!intro) return;
    sugg = h('div', { class: 'sugg', role: 'group', 'aria-label': intro },
      h('p', { 'aria-hidden': 'true' }, intro),
      items.map((q) => h('button', { type: 'button', class: 'chip', dir: 'auto', onclick: () => { submit(q); $.input.focus(); } }, q)));
    $.log.append(sugg);
  }

  let stick = true; // the log follows new messages unless the visitor scrolled up
  function scrollDown(force) {
    if (force || stick) $.log.scrollTop = $.log.scrollHeight;
  }

  // chrome updates everything that depends on the connection and the conversation's state.
  function chrome() {
    const asking = !started();
    $.choose.hidden = !asking;
    $.log.hidden = asking;
    const closed = S.state === 'closed';
    $.foot.hidden = asking;
    $.person.hidden = asking || closed || S.state === 'queued' || S.state === 'agent';
    $.form.hidden = asking || closed;
    $.restart.hidden = asking || !closed;
    $.newBtn.hidden = asking;
    $.select.hidden = asking;
    const queued = S.state === 'queued';
    const q = (queued && S.queue) || {};
    const place = [
      q.position > 0 && t('QueuePosition', { Count: q.position }),
      q.wait > 0 && t('QueueWait', { Count: q.wait }),
    ].filter(Boolean).join(' ');
    if ($.queue.textContent !== place) $.queue.textContent = place; // a live region: say changes only
    $.queue.hidden = !place;
    show($.qbar, queued);
    if ($.lm.parentNode !== $.log) $.log.insertBefore($.lm, sugg && sugg.isConnected ? sugg : null);
    show($.lm, queued && S.lm === 1);
    if (S.state !== 'agent') $.typing.hidden = true;
    const n = S.unread;
    $.badge.hidden = !n || isOpen;
    $.badge.textContent = n ? nf.format(n) : '';
    $.unreadText.textContent = n && !isOpen ? t('WidgetUnread', { Count: n }) : '';
    banner();
    suggestions();
  }

  // show shows or hides el; focus inside an element going away moves to the input.
  function show(el, on) {
    if (!on && !el.hidden && el.contains(root.activeElement)) $.input.focus();
    el.hidden = !on;
  }

  // banner says why the chat cannot be used, or that it is offline: after a moment without
  // a connection (a quick reconnect needs no notice), or at once when the device is offline.
  let bannerAfter = 0;
  function banner() {
    let text = fatal;
    if (!text && wanted() && !online()) {
      if (lostAt && (Date.now() >= bannerAfter || !navigator.onLine)) {
        text = (restarting ? t('ServerRestarting') : t('Reconnecting')) + ' ' + t('WidgetOffline');
      } else if (!M.size) {
        text = t('WidgetConnecting');
      }
    }
    $.banner.textContent = text;
    $.banner.hidden = !text;
    $.banner.classList.toggle('info', !fatal && !lostAt);
  }

  // announce tells screen readers about a new message, through the live region.
  function announce(text) {
    if (!text) return;
    $.live.append(h('p', null, text));
    while ($.live.childNodes.length > 3) $.live.firstChild.remove();
  }

  // ---- opening and closing -------------------------------------------------------------------

  function open(focus) {
    isOpen = true;
    $.panel.hidden = false;
    $.root.classList.add('open');
    $.launcher.setAttribute('aria-expanded', 'true');
    S.unread = 0;
    S.open = true;
    save();
    if (started() && !ws) connect();
    chrome();
    scrollDown(true);
    if (focus) (started() ? $.input : $.chooseList.firstChild).focus();
  }

  function close() {
    isOpen = false;
    $.panel.hidden = true;
    $.root.classList.remove('open');
    $.launcher.setAttribute('aria-expanded', 'false');
    S.open = false;
    save();
    stopTyping();
    chrome();
    $.launcher.focus();
  }

  // ---- language ----------------------------------------------------------------------------------

  let langGen = 0;
  async function setUiLang(lang) {
    const gen = ++langGen;
    let tab;
    try {
      tab = await strings(lang);
    } catch {
      return false;
    }
    if (gen !== langGen) return false;
    T = tab;
    uiLang = lang;
    setLocale();
    applyStrings();
    return true;
  }

  // choose is the visitor's pick in the menu (or on the first screen): tell the server, and
  // show the interface in that language; "auto" lets the server detect each message's language.
  async function choose(v) {
    const first = !started();
    S.pref = v;
    if (S.token) {
      S.pendingLang = v;
      sendLang();
    }
    save();
    const lang = v === 'auto' ? S.lang || uiLang : v.slice(0, 2);
    if (lang !== uiLang || first) await setUiLang(lang);
    else {
      setLocale();
      applyStrings();
    }
    if (first) {
      connect();
      $.input.focus();
    } else {
      $.select.focus();
    }
  }

  // followLang shows the interface in the conversation's language when the visitor lets the
  // server choose it.
  function followLang() {
    if ((S.pref === 'auto' || !S.pref) && S.lang && S.lang !== uiLang && LANGS.includes(S.lang)) setUiLang(S.lang);
  }

  const started = () => !!(S.token || S.pref);

  // ---- the connection ----------------------------------------------------------------------------

  let ws = null; // the open WebSocket, or null
  let welcomed = false; // ws got its welcome
  let attempt = 0; // failed connections in a row
  let retryTimer = 0;
  let fatal = ''; // a refusal that reconnecting does not fix
  let restarting = false;
  let lostAt = 0;
  let notice = ''; // shown after the next welcome (resume_invalid)
  const sent = new Map(); // outbox id -> time sent on the current connection
  const fbOut = {}; // seq -> helpful, feedback not acknowledged yet
  let syncWait = 0;

  const online = () => !!(ws && welcomed);
  // wanted: a connection is worth having (the panel is open, or a live conversation may bring
  // news for the badge, or something waits to be sent).
  const wanted = () => started() && (isOpen || (!!S.token && S.state !== 'closed') || S.outbox.length > 0);

  // A token bucket like the server's default per-connection rate (1 a second, burst 5), so
  // that resending an outbox never trips rate_limited (docs/protocol.md 13.2).
  const bucket = {
    n: 5, at: Date.now(),
    fill() {
      const now = Date.now();
      this.n = Math.min(5, this.n + (now - this.at) / 1000);
      this.at = now;
    },
    take() {
      this.fill();
      if (this.n < 1) return false;
      this.n -= 1;
      return true;
    },
    has(k) {
      this.fill();
      return this.n >= k;
    },
    wait() {
      this.fill();
      return Math.max(50, (1 - this.n) * 1000);
    },
  };

  function connect() {
    if (ws || fatal || !started()) return;
    clearTimeout(retryTimer);
    retryTimer = 0;
    let sock;
    try {
      sock = new WebSocket(base.replace(/^http/, 'ws') + '/ws');
    } catch {
      lost(1006, '');
      return;
    }
    ws = sock;
    welcomed = false;
    sock.onopen = () => {
      if (ws !== sock) return;
      const hello = { type: 'hello' };
      if (S.token) {
        hello.resume_token = S.token;
        hello.last_seq = S.seq;
      } else if (S.pref && S.pref !== 'auto') {
        hello.lang = S.pref;
      }
      sock.send(JSON.stringify(hello));
    };
    sock.onmessage = (e) => {
      if (ws !== sock) return;
      let f;
      try {
        f = JSON.parse(e.data);
      } catch {
        return;
      }
      if (f && typeof f === 'object') frame(f);
    };
    sock.onclose = (e) => {
      if (ws === sock) lost(e.code, e.reason);
    };
  }

  // drop abandons the connection at once (a dead one may take long to finish closing).
  function drop(code) {
    const sock = ws;
    ws = null;
    welcomed = false;
    if (sock) {
      try {
        sock.close(code || 1000);
      } catch {
        // already closed
      }
    }
  }

  function lost(code, reason) {
    ws = null;
    welcomed = false;
    sent.clear();
    clearTimeout(syncWait);
    showTyping(false);
    typingOn = false;
    if (lmBusy) lmDone(t('WidgetNotConnected'));
    if (reason === 'origin_not_allowed') {
      fatal = fatal || t('ErrOriginNotAllowed');
      chrome();
      return;
    }
    // Exponential backoff with ±50 % jitter: 0.5–1.5 s, then doubling up to 30 s.
    let ms = Math.min(30000, 1000 * 2 ** attempt) * (0.5 + Math.random());
    attempt++;
    if (reason === 'too_many_connections') ms = Math.max(ms, 30000 * (1 + Math.random()));
    else if (reason === 'rate_limited') ms = Math.max(ms, 5000);
    else if (reason === 'slow_client' && attempt === 1) ms = 0;
    if (!lostAt) {
      lostAt = Date.now();
      bannerAfter = lostAt + 1500; // a quick reconnect needs no notice
      setTimeout(chrome, 1600);
    }
    chrome();
    if (wanted()) retryTimer = setTimeout(connect, ms);
  }

  function frame(f) {
    switch (f.type) {
      case 'welcome':
        welcome(f);
        break;
      case 'message':
      case 'event':
        if (f.message) merge([f.message], true);
        break;
      case 'ack':
        ack(f);
        break;
      case 'sync':
        syncReply(f);
        break;
      case 'typing':
        if (f.from === 'agent') showTyping(!!f.on);
        break;
      case 'queue': // the place in the queue changed (not stored)
        if (S.state === 'queued') {
          S.queue = { position: f.position || 0, wait: f.wait_minutes || 0 };
          save();
          chrome();
        }
        break;
      case 'error':
        error(f.error || {});
        break;
      default: // frames this widget does not know are ignored (docs/protocol.md 2)
    }
  }

  function welcome(f) {
    const wasLost = lostAt && Date.now() - lostAt > 1500;
    const resync = f.resumed && (f.seq || 0) < S.seq;
    if (!f.resumed || resync) {
      // A new conversation, or history that does not belong to this one: start over,
      // keeping the visitor's unsent messages.
      M.clear();
      S.seq = 0;
      S.fb = {};
      S.queue = null;
      S.agent = '';
      S.lm = 0;
      for (const k of [...rendered.keys()]) if (typeof k === 'number') unrender(k);
    }
    welcomed = true;
    attempt = 0;
    lostAt = 0;
    bannerAfter = 0;
    restarting = false;
    S.token = f.resume_token || S.token;
    S.conv = f.conversation_id || S.conv;
    S.lang = f.lang || S.lang;
    S.script = f.script || '';
    S.chosen = !!f.lang_chosen;
    merge(f.messages || [], true);
    S.state = f.state || 'bot';
    if (S.state === 'queued' && (f.position || f.wait_minutes)) S.queue = { position: f.position || 0, wait: f.wait_minutes || 0 };
    if (f.more || resync) sync(resync ? 0 : lastSeqOf(f.messages));
    // Outbox (docs/protocol.md 8.2): what the replay shows stored is done; resend the rest.
    const stored = new Set(sorted().map((m) => m.client_id).filter(Boolean));
    for (const o of [...S.outbox]) if (stored.has(o.id)) acked(o.id);
    if (S.pendingLang) sendLang();
    for (const seq of Object.keys(fbOut)) sendFeedback(+seq);
    save();
    if (notice) {
      note(notice);
      notice = '';
    }
    if (wasLost) announce(t('WidgetBackOnline'));
    chrome();
    followLang();
    flush();
  }

  const lastSeqOf = (ms) => (ms && ms.length ? ms[ms.length - 1].seq : S.seq);

  // merge adds stored messages by seq, dropping any already held, and renders them.
  function merge(list, live) {
    const added = [];
    for (const m of list) {
      if (!m || !(m.seq > 0) || M.has(m.seq)) continue;
      M.set(m.seq, m);
      added.push(m);
    }
    if (!added.length) return;
    added.sort((a, b) => a.seq - b.seq);
    while (M.has(S.seq + 1)) S.seq++;
    let others = 0;
    for (const m of added) {
      effect(m);
      if (m.from === 'visitor' && m.client_id) acked(m.client_id, true);
      place(renderMsg(m), m.seq);
      if (m.from !== 'visitor') others++;
    }
    if (live && others) {
      if (!isOpen) {
        S.unread += others;
        announce(t('WidgetUnread', { Count: S.unread }));
      } else if (others > 3) {
        announce(t('MessagesMissed', { Count: others }));
      } else {
        for (const m of added) {
          if (m.from === 'visitor') continue;
          const text = m.kind === 'event' ? eventText(m) : m.text;
          announce(m.kind === 'event' ? text : t('WidgetSaid', { Name: sender(m), Text: text }));
        }
      }
    }
    save();
    chrome();
    followLang();
    scrollDown(added.some((m) => m.from === 'visitor'));
  }

  // effect applies what a stored message says about the conversation.
  function effect(m) {
    if (m.from === 'bot' && m.lang) {
      S.lang = m.lang;
      if (m.answer && !m.answer.offer_agent) S.script = m.answer.script || '';
    }
    if (m.from === 'agent') showTyping(false);
    if (m.kind !== 'event') return;
    switch (m.event) {
      case 'language':
        if (m.lang) S.lang = m.lang;
        break;
      case 'queued':
        S.state = 'queued';
        S.queue = { position: m.position || 0, wait: m.wait_minutes || 0 };
        S.lm = 0;
        break;
      case 'no_agents':
        S.lm = 1;
        break;
      case 'message_left':
        S.lm = 2;
        lmDone('');
        $.lmText.value = '';
        break;
      case 'agent_joined':
        S.state = 'agent';
        S.agent = m.agent || '';
        S.queue = null;
        S.lm = 0;
        break;
      case 'agent_left':
      case 'queue_left':
        S.state = 'bot';
        S.agent = '';
        S.queue = null;
        S.lm = 0;
        showTyping(false);
        break;
      case 'closed':
        S.state = 'closed';
        S.lm = 0;
        break;
    }
  }

  function ack(f) {
    if (f.id) {
      const o = S.outbox.find((x) => x.id === f.id);
      if (o && f.seq > 0 && !M.has(f.seq)) {
        // This connection gets no copy of its own message: the ack's seq places it.
        acked(o.id);
        merge([{ seq: f.seq, kind: 'message', from: 'visitor', client_id: o.id, text: o.text, time: o.time }], false);
      } else {
        acked(f.id);
        save();
        chrome();
      }
      flush();
    } else if (f.seq > 0) {
      delete fbOut[f.seq];
    }
  }

  // acked takes message id out of the outbox: it is stored.
  function acked(id, quiet) {
    const i = S.outbox.findIndex((x) => x.id === id);
    if (i < 0) return;
    S.outbox.splice(i, 1);
    sent.delete(id);
    unrender('p:' + id);
    if (!quiet) save();
  }

  function sync(after) {
    if (!online()) return;
    clearTimeout(syncWait);
    ws.send(JSON.stringify({ type: 'sync', seq: after }));
    syncWait = setTimeout(() => sync(after), SYNC_WAIT); // dropped when over the rate: ask again
  }

  function syncReply(f) {
    clearTimeout(syncWait);
    merge(f.messages || [], true);
    if (f.more) sync(lastSeqOf(f.messages));
  }

  let lastLang = '';
  function error(e) {
    const msg = e.message || '';
    if (e.ref && e.ref === lmId) {
      lmDone(msg || t('ErrInternal'));
      return;
    }
    if (e.ref) {
      const o = S.outbox.find((x) => x.id === e.ref);
      if (!o) return;
      if (e.code === 'rate_limited' || e.code === 'internal' || e.code === 'hello_required') {
        sent.delete(o.id); // send again, same id
        bucket.n = 0;
        setTimeout(flush, 2000);
        return;
      }
      // too_long, empty, conversation_closed, bad_json...: drop it and tell the visitor.
      acked(o.id);
      if (e.code === 'conversation_closed') S.state = 'closed';
      note(t('WidgetNotSent') + ' — ' + o.text.slice(0, 80) + (o.text.length > 80 ? '…' : '') + ': ' + msg, 'note error');
      if (!$.input.value && (e.code === 'too_long' || e.code === 'conversation_closed')) $.input.value = o.text;
      save();
      chrome();
      return;
    }
    switch (e.code) {
      case 'resume_invalid':
        notice = msg; // a welcome for a new conversation follows
        break;
      case 'origin_not_allowed':
        fatal = msg || t('ErrOriginNotAllowed');
        chrome();
        break;
      case 'restarting':
        restarting = true;
        break;
      case 'rate_limited': // a lang or feedback frame: try again
        if (lastLang && !S.pendingLang) S.pendingLang = lastLang;
        setTimeout(() => {
          sendLang();
          for (const seq of Object.keys(fbOut)) sendFeedback(+seq);
        }, 2000);
        break;
      case 'not_found':
        break;
      default:
        note(msg);
    }
  }

  // flush sends the outbox, oldest first, at the rate the server allows; a message without an
  // ack within ACK_WAIT means the connection is dead.
  let flushTimer = 0;
  function flush() {
    clearTimeout(flushTimer);
    flushTimer = 0;
    if (!online()) return;
    for (const o of S.outbox) {
      if (sent.has(o.id)) continue;
      if (!bucket.take()) {
        flushTimer = setTimeout(flush, bucket.wait());
        break;
      }
      ws.send(JSON.stringify({ type: 'message', id: o.id, text: o.text }));
      sent.set(o.id, Date.now());
    }
    watch();
  }

  let watchTimer = 0;
  function watch() {
    clearTimeout(watchTimer);
    if (!sent.size) return;
    watchTimer = setTimeout(() => {
      if (!online()) return;
      const now = Date.now();
      for (const at of sent.values()) {
        if (now - at > ACK_WAIT) {
          drop(4000);
          lost(1006, '');
          return;
        }
      }
      watch();
    }, 1000);
  }

  function newId() {
    const b = crypto.getRandomValues(new Uint8Array(12));
    return 'w' + [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  }

  // submit queues a message and sends it when the connection allows.
  function submit(raw) {
    const text = String(raw).trim();
    if (!text || S.state === 'closed' || !started()) return false;
    if ([...text].length > MAX_CHARS) {
      note(t('ErrTooLong', { Count: MAX_CHARS }), 'note error');
      return false;
    }
    const o = { id: newId(), text, time: new Date().toISOString() };
    S.outbox.push(o);
    save();
    renderPending(o);
    stick = true;
    chrome();
    scrollDown(true);
    if (!ws) connect();
    else flush();
    return true;
  }

  function sendInput() {
    if (submit($.input.value)) {
      $.input.value = '';
      stopTyping();
      updateCount();
    }
  }

  function talkToPerson() {
    ctl('handoff');
    $.input.focus();
  }

  // ctl sends a frame of the agent queue (handoff, cancel). They get no ack and are not kept
  // in the outbox: their result is a stored event, so they go out only on a live connection.
  function ctl(type) {
    if (online()) send({ type });
    else note(t('WidgetNotConnected'), 'note error');
  }

  function send(f) {
    bucket.take(); // not limited by the server today; counted all the same
    ws.send(JSON.stringify(f));
  }

  // leaveMessage checks the leave-a-message form and sends it. The message_left event confirms
  // it (and hides the form); an error, or the connection lost first, lets the visitor send again.
  let lmId = '';
  let lmBusy = 0;
  function leaveMessage() {
    if (lmBusy) return;
    const contact = $.lmContact.value.trim();
    const text = $.lmText.value.trim();
    const nc = [...contact].length;
    const nt = [...text].length;
    const bad = !nc ? [$.lmContact, t('WidgetContactMissing')]
      : nc > MAX_CONTACT ? [$.lmContact, t('WidgetContactTooLong', { Count: MAX_CONTACT })]
        : !nt ? [$.lmText, t('WidgetMessageMissing')]
          : nt > MAX_CHARS ? [$.lmText, t('ErrTooLong', { Count: MAX_CHARS })]
            : !online() ? [$.lmSend, t('WidgetNotConnected')] : null;
    for (const el of [$.lmContact, $.lmText]) el.setAttribute('aria-invalid', String(!!bad && bad[0] === el));
    $.lmErr.textContent = bad ? bad[1] : '';
    if (bad) {
      bad[0].focus();
      return;
    }
    lmId = newId();
    send({ type: 'leave_message', id: lmId, text, contact });
    lmBusy = setTimeout(() => lmDone(''), ACK_WAIT);
    $.lmSend.setAttribute('aria-disabled', 'true');
  }

  function lmDone(err) {
    clearTimeout(lmBusy);
    lmBusy = 0;
    $.lmSend.removeAttribute('aria-disabled');
    $.lmErr.textContent = err;
  }

  function sendLang() {
    if (!S.pendingLang || !online() || !bucket.take()) return;
    ws.send(JSON.stringify({ type: 'lang', lang: S.pendingLang }));
    lastLang = S.pendingLang;
    S.pendingLang = '';
    save();
  }

  function feedback(seq, helpful) {
    S.fb[seq] = helpful;
    fbOut[seq] = helpful;
    save();
    sendFeedback(seq);
    const el = rendered.get(seq);
    const old = el && el.querySelector('.fb');
    if (old) {
      const fresh = feedbackEl(seq);
      old.replaceWith(fresh);
      fresh.querySelectorAll('button')[helpful ? 0 : 1].focus();
    }
  }

  function sendFeedback(seq) {
    if (!(seq in fbOut) || !online()) return;
    if (!bucket.take()) {
      setTimeout(() => sendFeedback(seq), bucket.wait());
      return;
    }
    ws.send(JSON.stringify({ type: 'feedback', seq, helpful: fbOut[seq] }));
  }

  // ---- typing, both ways -------------------------------------------------------------------------

  let typingOn = false;
  let typingTimer = 0;
  function onInput() {
    updateCount();
    // Only a person sees typing indicators, and they spend the message budget: send them
    // while an agent is there or coming, and only with budget to spare.
    if (!online() || (S.state !== 'agent' && S.state !== 'queued')) return;
    const text = $.input.value.trim();
    clearTimeout(typingTimer);
    if (!text) {
      stopTyping();
      return;
    }
    if (!typingOn && bucket.has(2)) { // one token stays for the message itself
      bucket.take();
      ws.send(JSON.stringify({ type: 'typing', on: true }));
      typingOn = true;
    }
    typingTimer = setTimeout(stopTyping, TYPING_IDLE);
  }

  function stopTyping() {
    clearTimeout(typingTimer);
    if (!typingOn) return;
    typingOn = false;
    if (online() && bucket.has(2)) {
      bucket.take();
      ws.send(JSON.stringify({ type: 'typing' }));
    }
  }

  let agentTypingTimer = 0;
  function showTyping(on) {
    clearTimeout(agentTypingTimer);
    if (!$.typing) return;
    $.typing.hidden = !on;
    if (on) agentTypingTimer = setTimeout(() => showTyping(false), AGENT_TYPING_MAX);
  }

  function updateCount() {
    const left = MAX_CHARS - [...$.input.value.trim()].length;
    $.count.hidden = left > 200;
    $.count.classList.toggle('over', left < 0);
    if (left <= 200) $.count.textContent = left >= 0 ? t('WidgetCharsLeft', { Count: left }) : t('ErrTooLong', { Count: MAX_CHARS });
  }

  // ---- a new conversation ------------------------------------------------------------------------

  function askNew() {
    if (S.state === 'closed' || !sorted().some((m) => m.from === 'visitor')) {
      newConversation();
      return;
    }
    $.confirm.hidden = false;
    $.confirmYes.focus();
  }

  // newConversation forgets this one on this device (token, transcript, outbox) and says
  // hello without a token.
  function newConversation() {
    drop(1000);
    clearTimeout(retryTimer);
    const keep = { pref: S.pref, open: S.open };
    S = Object.assign(blank(), keep);
    M.clear();
    sent.clear();
    for (const k of Object.keys(fbOut)) delete fbOut[k];
    $.confirm.hidden = true;
    lmDone('');
    $.lmText.value = '';
    save();
    renderAll();
    connect();
    $.input.focus();
  }

  // ---- other tabs ------------------------------------------------------------------------------

  // Tabs of one site share the conversation: each has its own connection, and they keep one
  // copy in localStorage. When another tab writes it, take what this one lacks: messages by
  // seq, unsent messages by id (sending one twice is harmless: the server stores an id once).
  function fromOtherTab(e) {
    if (e.key !== KEY || !e.newValue) return;
    let o;
    try {
      o = JSON.parse(e.newValue);
    } catch {
      return;
    }
    if (!o || typeof o !== 'object') return;
    if ((o.token || '') !== S.token) {
      // The other tab started a new conversation: follow it once it has its token.
      drop(1000);
      clearTimeout(retryTimer);
      S = Object.assign(blank(), o, { open: S.open });
      M.clear();
      for (const m of S.msgs || []) if (m && m.seq > 0) M.set(m.seq, m);
      sent.clear();
      renderAll();
      if (S.token && wanted()) connect();
      return;
    }
    merge(o.msgs || [], false);
    const stored = new Set(sorted().map((m) => m.client_id).filter(Boolean));
    const have = new Set(S.outbox.map((x) => x.id));
    const more = (o.outbox || []).filter((x) => x && x.id && !have.has(x.id) && !stored.has(x.id));
    if (!more.length) return;
    for (const x of more) {
      S.outbox.push(x);
      renderPending(x);
    }
    save();
    chrome();
    if (!ws) connect();
    else flush();
  }

  // ---- styles ------------------------------------------------------------------------------------

  // The style sheet is fetched and adopted (a constructed CSSStyleSheet), which needs no
  // style-src permission from the host page; a <link> is the fallback.
  async function styles() {
    const color = ds.color && CSS.supports('color', ds.color) ? ds.color : '';
    try {
      if (!('adoptedStyleSheets' in ShadowRoot.prototype)) throw new Error('no constructed style sheets');
      const r = await fetch(base + '/widget.css', { credentials: 'omit' });
      if (!r.ok) throw new Error('widget.css: ' + r.status);
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(await r.text());
      if (color) sheet.insertRule('.hl { --accent: ' + color + '; }', sheet.cssRules.length);
      root.adoptedStyleSheets = [sheet];
    } catch {
      const link = h('link', { rel: 'stylesheet', href: base + '/widget.css' });
      await new Promise((done) => {
        link.onload = link.onerror = done;
        root.prepend(link);
      });
      if (color) host.style.setProperty('--hl-accent', color);
    }
    // White or black text on the accent, whichever reads better.
    const rgb = (getComputedStyle($.probe).color.match(/[\d.]+/g) || []).slice(0, 3).map(Number);
    if (rgb.length === 3) {
      const [r, g, b] = rgb.map((c) => ((c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
      const lum = 0.2126 * r + 0.7152 * g + 0.0722 * b;
      $.root.classList.toggle('light', 1.05 / (lum + 0.05) < 4.5);
    }
  }

  // ---- start ---------------------------------------------------------------------------------------

  async function boot() {
    uiLang = 'en';
    setLocale();
    if (!S.pref) {
      const nav = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
      S.pref = ds.lang === 'auto' ? 'auto' : pick(ds.lang) || pick(document.documentElement.lang) || nav.map(pick).find(Boolean) || '';
      if (!S.pref && S.token) S.pref = 'auto';
    }
    build();
    const lang = S.pref && S.pref !== 'auto' ? S.pref.slice(0, 2) : S.lang || 'en';
    const css = styles();
    for (let wait = 1000; !(await setUiLang(lang)); wait = Math.min(wait * 2, 30000)) {
      await new Promise((r) => setTimeout(r, wait * (0.5 + Math.random())));
    }
    await css;
    $.root.hidden = false;
    if (S.open || ds.open === 'true') open(false);
    if (wanted()) connect();

    window.addEventListener('online', () => {
      if (!ws && wanted()) connect();
    });
    window.addEventListener('offline', chrome);
    window.addEventListener('storage', fromOtherTab);
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && !ws && wanted()) connect();
    });
    $.log.addEventListener('scroll', () => {
      stick = $.log.scrollHeight - $.log.scrollTop - $.log.clientHeight < 40;
    }, { passive: true });
  }

  if (document.body) boot();
  else document.addEventListener('DOMContentLoaded', boot, { once: true });
})();
