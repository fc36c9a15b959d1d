// The API reference: Swagger UI over the gateway's served contract. "Try it out" calls this
// origin only (the document's servers are replaced by it), with the bearer token the reader
// enters under Authorize.
"use strict";
(function () {
  const root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") {
    return;
  }
  fetch(root.dataset.spec, { headers: { accept: "application/json" } })
    .then((response) => response.json())
    .then((spec) => {
      spec.servers = [{ url: window.location.origin, description: "this gateway" }];
      window.ui = window.SwaggerUIBundle({
        spec: spec,
        domNode: root,
        deepLinking: true,
        docExpansion: "list",
        defaultModelsExpandDepth: 0,
        displayRequestDuration: true,
        persistAuthorization: false,
        tryItOutEnabled: false,
        validatorUrl: null,
        withCredentials: false,
      });
    });
})();
