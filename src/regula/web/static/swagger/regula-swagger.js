/* regula: starts Swagger UI on /schema from local files (no CDN, no inline script: see regula.web.security). */
(function () {
  "use strict";
  window.addEventListener("DOMContentLoaded", function () {
    var container = document.getElementById("swagger-container");
    if (!container || typeof window.SwaggerUIBundle !== "function") return;
    window.ui = window.SwaggerUIBundle({
      url: container.getAttribute("data-spec-url"),
      dom_id: "#swagger-container",
      deepLinking: true,
      showExtensions: true,
      showCommonExtensions: true,
      presets: [window.SwaggerUIBundle.presets.apis],
      layout: "BaseLayout"
    });
  });
})();
