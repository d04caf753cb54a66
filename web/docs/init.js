// The API reference at /docs: swagger-ui on pace's own OpenAPI document.
// Loaded after swagger-ui-bundle.js (both deferred); nothing leaves pace:
// no validator badge, no remote config from the query string, no stored
// credentials (an access token typed into "Authorize" lives until the tab
// is closed or reloaded).
(function () {
  'use strict';

  if (typeof window.SwaggerUIBundle !== 'function') {
    var main = document.getElementById('swagger-ui');
    if (main) {
      main.textContent = 'The API reference could not load. The OpenAPI document is at /api/v1/openapi.json.';
    }
    return;
  }

  // The path of an operation is drawn inside its expand button; swagger-ui
  // makes it a deep link, a link inside a button (axe: nested-interactive,
  // and a second tab stop per operation). Drawn as text here; the address
  // bar still gets the operation's deep link when it is expanded.
  function PlainSummaryPath() {
    return {
      wrapComponents: {
        OperationSummaryPath: function (Original, system) {
          var h = system.React.createElement;
          return function (props) {
            var op = props.operationProps.toObject();
            var parts = String(op.path).split(/(?=\/)/g);
            var children = [];
            parts.forEach(function (part, i) {
              if (i > 0) children.push(h('wbr', { key: 'w' + i }));
              children.push(part);
            });
            return h(
              'span',
              {
                className: op.deprecated ? 'opblock-summary-path__deprecated' : 'opblock-summary-path',
                'data-path': op.path,
              },
              children,
            );
          };
        },
      },
    };
  }

  // Names and roles swagger-ui's markup lacks (axe: select-name,
  // button-name, label-content-name-mismatch), set as it renders; React
  // leaves attributes it does not manage alone.
  var FIXES = [
    ['select#servers:not([aria-label])', { 'aria-label': 'Server' }],
    ['.modal-ux .close-modal:not([aria-label])', { 'aria-label': 'Close' }],
    ['.modal-ux:not([role])', { role: 'dialog', 'aria-modal': 'true' }],
  ];

  function fixMarkup() {
    FIXES.forEach(function (fix) {
      document.querySelectorAll(fix[0]).forEach(function (el) {
        Object.keys(fix[1]).forEach(function (name) {
          el.setAttribute(name, fix[1][name]);
        });
      });
    });
    // Try-it-out fields without a name: the request body, and the
    // drop-downs of enum and boolean parameters (named after the parameter).
    document.querySelectorAll('.body-param textarea:not([aria-label])').forEach(function (el) {
      el.setAttribute('aria-label', 'Request body');
    });
    document.querySelectorAll('tr[data-param-name] select:not([aria-label])').forEach(function (el) {
      var row = el.closest('tr[data-param-name]');
      el.setAttribute('aria-label', row.getAttribute('data-param-name') + ' (' + row.getAttribute('data-param-in') + ')');
    });
    // ... and of form fields of a request body (POST /api/v1/auth/token).
    document.querySelectorAll('tr[data-property-name] select:not([aria-label])').forEach(function (el) {
      el.setAttribute('aria-label', el.closest('tr[data-property-name]').getAttribute('data-property-name'));
    });
    // Inputs swagger-ui names by their id (aria-label="auth-bearer-value"),
    // hiding their visible <label>: let the label name them.
    document.querySelectorAll('input[aria-label][id]').forEach(function (el) {
      if (el.getAttribute('aria-label') === el.id && document.querySelector('label[for="' + el.id + '"]')) {
        el.removeAttribute('aria-label');
      }
    });
    // The dialog is named by its heading ("Available authorizations").
    document.querySelectorAll('.modal-ux[role="dialog"]:not([aria-label])').forEach(function (el) {
      var heading = el.querySelector('.modal-ux-header h3');
      if (heading) el.setAttribute('aria-label', heading.textContent);
    });
    // "Authorize" buttons whose aria-label does not contain their text.
    document.querySelectorAll('.auth-btn-wrapper button[aria-label]').forEach(function (el) {
      var text = el.textContent.trim();
      var label = el.getAttribute('aria-label');
      if (text && label.toLowerCase().indexOf(text.toLowerCase()) === -1) {
        el.setAttribute('aria-label', text + ': ' + label.charAt(0).toLowerCase() + label.slice(1));
      }
    });
    // pace's token endpoint takes no client credentials and refuses an
    // Authorization: Basic header, which swagger-ui sends by default for
    // the password flow: start the choice at "Request body" (empty
    // client_id and secret are then not sent). Once per dialog; the user
    // can change it back.
    document.querySelectorAll('select#password_type:not([data-pace-default])').forEach(function (el) {
      el.setAttribute('data-pace-default', '');
      if (el.value === 'basic') {
        el.value = 'request-body';
        el.dispatchEvent(new Event('change', { bubbles: true }));
      }
    });
  }
  new MutationObserver(fixMarkup).observe(document.body, { childList: true, subtree: true });

  window.ui = window.SwaggerUIBundle({
    url: '/api/v1/openapi.json',
    dom_id: '#swagger-ui',
    presets: [window.SwaggerUIBundle.presets.apis],
    plugins: [PlainSummaryPath],
    layout: 'BaseLayout',
    deepLinking: true,
    validatorUrl: null,
    queryConfigEnabled: false,
    persistAuthorization: false,
    tryItOutEnabled: false,
    displayRequestDuration: true,
    docExpansion: 'list',
    defaultModelsExpandDepth: 0,
    filter: true,
    showExtensions: false,
    syntaxHighlight: { activated: false },
  });
})();
