// The console's login page: POST /console/api/login {name, password}; the server sets the
// session cookie (HttpOnly) and the console page reads the CSRF token from /console/api/me.
'use strict';

(function () {
  const I = window.HotlineI18n;
  const form = document.getElementById('login-form');
  const err = document.getElementById('login-error');
  const submit = document.getElementById('login-submit');
  const langSel = document.getElementById('console-lang');

  function showError(text) {
    err.textContent = text;
    err.hidden = !text;
  }

  async function setLang(l) {
    try {
      await I.load(l);
    } catch (e) {
      /* the ids show instead of the text; the form still works */
    }
    I.apply(document);
    I.fillLangSelect(langSel, I.lang);
    document.body.classList.remove('loading');
  }

  langSel.addEventListener('change', function () {
    I.remember(langSel.value);
    setLang(langSel.value);
  });

  form.addEventListener('submit', async function (ev) {
    ev.preventDefault();
    const name = document.getElementById('name').value.trim();
    const password = document.getElementById('password').value;
    if (!name || !password) {
      showError(I.t('ConsoleLoginMissing'));
      (name ? document.getElementById('password') : document.getElementById('name')).focus();
      return;
    }
    showError('');
    submit.disabled = true;
    try {
      const r = await fetch('/console/api/login', {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'Accept-Language': I.lang },
        body: JSON.stringify({ name: name, password: password }),
      });
      if (r.ok) {
        location.assign('/console/');
        return;
      }
      showError(I.t(r.status === 429 ? 'ConsoleLoginLocked' : r.status === 401 ? 'ConsoleLoginFailed' : 'ConsoleLoginError'));
      document.getElementById('password').select();
    } catch (e) {
      showError(I.t('ConsoleLoginError'));
    } finally {
      submit.disabled = false;
    }
  });

  // Already signed in: straight to the console.
  fetch('/console/api/me', { credentials: 'same-origin' }).then(function (r) {
    if (r.ok) location.replace('/console/');
  }).catch(function () {});

  setLang(I.stored() || I.supported(navigator.languages || [navigator.language]) || 'en').then(function () {
    document.getElementById('name').focus();
  });
})();
