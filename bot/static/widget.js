/* Shopkeeper chat bubble, embeddable with one tag:
 *   <script src="http://SHOP:8000/widget.js" data-title="Shopkeeper" data-color="#1f6f5c"
 *           data-open="false" data-position="right" data-gateway="http://SHOP:8000"></script>
 * Options may also be set as window.ShopkeeperOptions = {...} before the tag. */
(function () {
  "use strict";
  var script = document.currentScript;
  var data = (script && script.dataset) || {};
  var origin = script ? new URL(script.src, window.location.href).origin : window.location.origin;
  var options = {
    gateway: data.gateway || origin,
    title: data.title,
    subtitle: data.subtitle,
    color: data.color,
    textColor: data.textColor,
    position: data.position,
    open: data.open === "true",
    fullPage: data.fullPage === "true",
    voice: data.voice,
  };
  Object.keys(options).forEach(function (key) { if (options[key] === undefined) delete options[key]; });
  var extra = window.ShopkeeperOptions || {};
  Object.keys(extra).forEach(function (key) { options[key] = extra[key]; });
  function start() {
    import(origin + "/static/widget/app.js")
      .then(function (module) { module.mount(options); })
      .catch(function (error) { console.error("Shopkeeper widget could not load:", error); });
  }
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
