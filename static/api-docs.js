// Renders the OpenAPI document into /api/docs with the vendored Swagger UI. A file, not an
// inline script, so the page runs under the app's Content-Security-Policy (script-src 'self').
"use strict";

window.addEventListener("DOMContentLoaded", function () {
  var target = document.getElementById("reference");
  if (!target || typeof window.SwaggerUIBundle !== "function") {
    return;
  }
  window.SwaggerUIBundle({
    url: target.getAttribute("data-spec-url"),
    domNode: target,
    // A reference, not a console: no "Try it out" (writes need a token or the CSRF header).
    supportedSubmitMethods: [],
    // No call to the public validator service: nothing leaves this host.
    validatorUrl: null,
    // Off: its links sit inside each operation's toggle button (nested controls for
    // keyboards and screen readers).
    deepLinking: false,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    displayOperationId: true,
  });
});
