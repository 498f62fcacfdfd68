// The console's text: every visible string comes from GET /api/v1/strings/{lang} (the
// locales/active.*.yaml files, ids prefixed "Console"). Shared by the login page and the
// console. Nothing here touches the DOM with HTML: text goes in with textContent only.
'use strict';

window.HotlineI18n = (function () {
  const LANGS = ['zh', 'en', 'fr', 'es', 'ru', 'ar'];
  const KEY = 'hotline-console-lang';
  let lang = 'en';
  let messages = {};
  let rules = new Intl.PluralRules('en');

  // supported returns the first of tags that is one of the six, or ''.
  function supported(tags) {
    for (const t of tags) {
      if (!t) continue;
      const base = String(t).toLowerCase().split(/[-_]/)[0];
      if (LANGS.includes(base)) return base;
    }
    return '';
  }

  function stored() {
    try { return supported([localStorage.getItem(KEY)]); } catch (e) { return ''; }
  }

  function remember(l) {
    try { localStorage.setItem(KEY, l); } catch (e) { /* private mode: not kept */ }
  }

  // load fetches the strings of l and sets <html lang dir>.
  async function load(l) {
    const r = await fetch('/api/v1/strings/' + encodeURIComponent(l), { credentials: 'same-origin' });
    if (!r.ok) throw new Error('strings: HTTP ' + r.status);
    const j = await r.json();
    lang = j.lang || l;
    messages = j.messages || {};
    rules = new Intl.PluralRules(lang);
    document.documentElement.lang = lang;
    document.documentElement.dir = j.dir === 'rtl' ? 'rtl' : 'ltr';
    return lang;
  }

  function fill(tpl, data) {
    return String(tpl).replace(/\{\{\s*\.(\w+)\s*\}\}/g, function (m, k) {
      return data && Object.prototype.hasOwnProperty.call(data, k) ? String(data[k]) : m;
    });
  }

  // t renders message id with data; a missing id shows the id itself.
  function t(id, data) {
    let v = messages[id];
    if (v == null) return id;
    if (typeof v === 'object') v = v.other || Object.values(v)[0] || id;
    return fill(v, data);
  }

  // n renders a plural message with the form the language uses for count.
  function n(id, count, data) {
    let v = messages[id];
    const d = Object.assign({ Count: count }, data || {});
    if (v == null) return id;
    if (typeof v === 'object') {
      let form = rules.select(count);
      if (count === 0 && v.zero) form = 'zero';
      v = v[form] || v.other || Object.values(v)[0] || id;
    }
    return fill(v, d);
  }

  // apply fills every element of root marked with data-i18n (text), data-i18n-placeholder,
  // data-i18n-aria-label and data-i18n-title.
  function apply(root) {
    (root || document).querySelectorAll('[data-i18n]').forEach(function (el) {
      el.textContent = t(el.dataset.i18n);
    });
    (root || document).querySelectorAll('[data-i18n-placeholder]').forEach(function (el) {
      el.placeholder = t(el.dataset.i18nPlaceholder);
    });
    (root || document).querySelectorAll('[data-i18n-aria-label]').forEach(function (el) {
      el.setAttribute('aria-label', t(el.dataset.i18nAriaLabel));
    });
    (root || document).querySelectorAll('[data-i18n-title]').forEach(function (el) {
      el.title = t(el.dataset.i18nTitle);
    });
    document.title = t('ConsoleTitle');
  }

  // langName is a language's name in the console's language.
  function langName(code) {
    if (!LANGS.includes(code)) return code || '?';
    return t('ConsoleLang' + code.charAt(0).toUpperCase() + code.slice(1));
  }

  // fillLangSelect lists the six languages, each in its own name, in a <select>.
  function fillLangSelect(sel, current) {
    sel.replaceChildren();
    for (const code of LANGS) {
      const o = document.createElement('option');
      o.value = code;
      o.textContent = t('ConsoleNative' + code.charAt(0).toUpperCase() + code.slice(1));
      o.lang = code;
      sel.appendChild(o);
    }
    sel.value = current;
  }

  return {
    LANGS: LANGS, supported: supported, stored: stored, remember: remember, load: load,
    t: t, n: n, apply: apply, langName: langName, fillLangSelect: fillLangSelect,
    get lang() { return lang; },
  };
})();
