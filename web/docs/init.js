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

  // The servers drop-down has an empty label: give it a name.
  function nameServersSelect() {
    var select = document.getElementById('servers');
    if (select && !select.hasAttribute('aria-label')) select.setAttribute('aria-label', 'Server');
  }
  new MutationObserver(nameServersSelect).observe(document.body, { childList: true, subtree: true });

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
    syntaxHighlight: { activated: true, theme: 'agate' },
  });
})();
