/* Staff console: progressive enhancement only. Every flow works without this file.
   - live per-channel preview of the post form (POST /console/api/vorschau with the form's fields)
   - live delivery figures (EventSource on [data-progress])
   - Stadtteil search and "Ganze Stadt"/"Einzelne Stadtteile" kept consistent
   - a submit button marked data-once is disabled after the first click (the server is idempotent anyway) */
(function () {
  "use strict";

  function text(el, value) { if (el) { el.textContent = value; } }

  function make(tag, cls, content) {
    var el = document.createElement(tag);
    if (cls) { el.className = cls; }
    if (content !== undefined) { el.textContent = content; }
    return el;
  }

  /* -- live preview ------------------------------------------------------------------------------- */
  function renderPreviews(section, previews) {
    var grid = section.querySelector(".preview-grid");
    var empty = section.querySelector(".muted");
    if (!grid) { return; }
    while (grid.firstChild) { grid.removeChild(grid.firstChild); }
    if (empty) { empty.hidden = previews.length > 0; }
    previews.forEach(function (p) {
      var article = make("article", "preview" + (p.ok ? "" : " too-long"));
      article.appendChild(make("h3", "", p.label));
      var count = p.length + (p.limit ? " von " + p.limit : "") + " Zeichen" + (p.ok ? "" : " – zu lang") +
        (p.variant ? " · eigene Fassung" : "");
      article.appendChild(make("p", "count", count));
      article.appendChild(make("div", "preview-text", p.text));
      if (p.error) { article.appendChild(make("p", "field-error", p.error)); }
      grid.appendChild(article);
    });
  }

  function livePreview(form) {
    var url = form.getAttribute("data-preview");
    var section = document.getElementById("vorschau");
    if (!url || !section) { return; }
    var timer = null;
    var running = null;
    function update() {
      var data = new FormData(form);
      data.set("action", "preview");
      if (running) { running.abort(); }
      running = new AbortController();
      fetch(url, { method: "POST", body: data, credentials: "same-origin", signal: running.signal })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) { if (body) { renderPreviews(section, body.previews || []); } })
        .catch(function () { /* the "Vorschau" button still works */ });
    }
    form.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(update, 400);
    });
    form.addEventListener("change", function () {
      clearTimeout(timer);
      timer = setTimeout(update, 100);
    });
  }

  /* -- live progress ------------------------------------------------------------------------------ */
  var NS = "http://www.w3.org/2000/svg";

  function drawChart(svg, chart) {
    if (!svg || !chart) { return; }
    Array.prototype.slice.call(svg.querySelectorAll("rect")).forEach(function (r) { svg.removeChild(r); });
    (chart.bars || []).forEach(function (bar) {
      var rect = document.createElementNS(NS, "rect");
      rect.setAttribute("x", bar.x); rect.setAttribute("y", bar.y);
      rect.setAttribute("width", bar.w); rect.setAttribute("height", bar.h);
      rect.setAttribute("fill", "#1f5f99");
      var title = document.createElementNS(NS, "title");
      title.textContent = bar.at + ": " + bar.count;
      rect.appendChild(title);
      svg.appendChild(rect);
    });
  }

  function updateProgress(section, data) {
    var summary = (data.running ? "Wird gesendet: " : "Stand: ") + data.sent + " gesendet, " + data.pending +
      " ausstehend, " + data.failed + " fehlgeschlagen.";
    text(section.querySelector('[data-field="summary"]'), summary);
    var tbody = section.querySelector('[data-field="rows"]');
    var empty = tbody ? tbody.querySelector("tr[data-empty]") : null;
    if (empty && data.channels && data.channels.length) { tbody.removeChild(empty); }
    (data.channels || []).forEach(function (c) {
      var row = tbody ? tbody.querySelector('tr[data-channel="' + c.channel + '"]') : null;
      if (!row && tbody) {
        row = document.createElement("tr");
        row.setAttribute("data-channel", c.channel);
        var th = make("th", "", c.label); th.setAttribute("scope", "row"); row.appendChild(th);
        ["sent", "pending", "failed", "rate", "eta", "links"].forEach(function (name) {
          var td = make("td"); td.setAttribute("data-cell", name); row.appendChild(td);
        });
        tbody.appendChild(row);
      }
      if (!row) { return; }
      text(row.querySelector('[data-cell="sent"]'), String(c.sent));
      text(row.querySelector('[data-cell="pending"]'), String(c.pending));
      text(row.querySelector('[data-cell="failed"]'), String(c.failed));
      text(row.querySelector('[data-cell="rate"]'), c.rate_per_minute + " pro Minute");
      text(row.querySelector('[data-cell="eta"]'), c.eta_text);
      var links = row.querySelector('[data-cell="links"]');
      if (links && !(c.links && c.links.length)) { text(links, "–"); }
      if (links && c.links && c.links.length) {
        while (links.firstChild) { links.removeChild(links.firstChild); }
        c.links.forEach(function (href, i) {
          var a = make("a", "", "Beitrag " + (i + 1));
          a.href = href; a.rel = "noopener noreferrer";
          links.appendChild(a);
          if (i < c.links.length - 1) { links.appendChild(document.createTextNode(", ")); }
        });
      }
    });
    drawChart(section.querySelector('[data-field="chart"]'), data.chart);
    var chartEmpty = section.querySelector('[data-field="chart-empty"]');
    if (chartEmpty) { chartEmpty.hidden = !!(data.chart && data.chart.bars && data.chart.bars.length); }
  }

  function liveProgress(section) {
    var url = section.getAttribute("data-progress");
    if (!url || !window.EventSource) { return; }
    var source = new EventSource(url);
    source.addEventListener("progress", function (event) {
      try { updateProgress(section, JSON.parse(event.data)); } catch (e) { /* keep the last figures */ }
    });
  }

  /* -- Stadtteile ---------------------------------------------------------------------------------- */
  function areaPicker(box) {
    var search = box.querySelector("[data-search]");
    var input = search ? search.querySelector("input") : null;
    var fieldset = box.closest("fieldset.area");
    if (search && input) {
      search.hidden = false;
      input.addEventListener("input", function () {
        var q = input.value.trim().toLowerCase();
        Array.prototype.forEach.call(box.querySelectorAll("li[data-name]"), function (li) {
          li.hidden = q !== "" && li.getAttribute("data-name").indexOf(q) === -1;
        });
        Array.prototype.forEach.call(box.querySelectorAll("fieldset.group"), function (group) {
          group.hidden = !group.querySelector("li[data-name]:not([hidden])");
        });
      });
    }
    if (!fieldset) { return; }
    var city = fieldset.querySelector("#area-city");
    var parts = fieldset.querySelector("#area-parts");
    box.addEventListener("change", function (event) {
      if (event.target.type === "checkbox" && event.target.checked && parts) { parts.checked = true; }
    });
    if (city) {
      city.addEventListener("change", function () {
        if (!city.checked) { return; }
        Array.prototype.forEach.call(box.querySelectorAll('input[type="checkbox"]'), function (c) { c.checked = false; });
      });
    }
  }

  /* -- one click, one submission ------------------------------------------------------------------ */
  function once(form) {
    form.addEventListener("submit", function (event) {
      var button = event.submitter;
      if (!button || !button.hasAttribute("data-once")) { return; }
      if (form.getAttribute("data-sent") === "1") { event.preventDefault(); return; }
      form.setAttribute("data-sent", "1");
      /* keep the button's name/value in the request, then disable it */
      var hidden = document.createElement("input");
      hidden.type = "hidden"; hidden.name = button.name; hidden.value = button.value;
      if (button.name) { form.appendChild(hidden); }
      setTimeout(function () { button.disabled = true; button.setAttribute("aria-disabled", "true"); }, 0);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-preview]"), livePreview);
    Array.prototype.forEach.call(document.querySelectorAll("[data-progress]"), liveProgress);
    Array.prototype.forEach.call(document.querySelectorAll("[data-stadtteile]"), areaPicker);
    Array.prototype.forEach.call(document.querySelectorAll("form"), once);
    var summary = document.getElementById("fehler");
    if (summary) { summary.focus(); }
  });
})();
