// Served as /assets/passkeys.js on the passkey pages (script-src 'self'; nothing inline). A form
// with data-webauthn="create" (register) or "get" (sign in) runs the WebAuthn ceremony with the
// options the server put in its data-options (through @simplewebauthn/browser, served beside this
// file), puts the browser's answer in the hidden `response` field and submits the form; the server
// verifies everything. Without JavaScript the form posts an empty answer and the server says why.
/* global window, document -- this file runs in the browser */
(function () {
  'use strict';
  function show(el, text) {
    el.textContent = text;
    el.hidden = false;
  }
  function setup(form) {
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var error = form.querySelector('[data-webauthn-error]');
      var lib = window.SimpleWebAuthnBrowser;
      if (!lib || !lib.browserSupportsWebAuthn()) {
        show(error, 'This browser cannot use passkeys. Use another way to verify.');
        return;
      }
      var optionsJSON = JSON.parse(form.dataset.options);
      var ceremony = form.dataset.webauthn === 'create'
        ? lib.startRegistration({ optionsJSON: optionsJSON })
        : lib.startAuthentication({ optionsJSON: optionsJSON });
      ceremony.then(function (answer) {
        form.querySelector('input[name="response"]').value = JSON.stringify(answer);
        form.submit();
      }, function (err) {
        show(error, 'The passkey was not used (' + (err && err.name ? err.name : 'cancelled') + '). Try again, or use another way.');
      });
    });
  }
  document.querySelectorAll('form[data-webauthn]').forEach(setup);
})();
