/*! Koblenz chat widget · EUPL-1.2 · plain JavaScript, no dependencies, no cookies, no third-party requests.
 *
 * Embed:  <script src="https://BOT/widget.js" data-bot-url="https://BOT" data-lang="de"
 *                 data-color="#00507d" data-topic="personalausweis" defer></script>
 *
 * Everything lives in one shadow root, so the host page's CSS cannot break the widget and the widget's
 * CSS cannot touch the page. Every text from the bot or the citizen is inserted with textContent, never
 * as HTML. The conversation is kept in sessionStorage (this tab only) and can be deleted by the citizen.
 */
(function () {
  "use strict";
  if (window.__koblenzChatWidget) return;
  window.__koblenzChatWidget = true;

  var CSS = /*CSS*/"";
  var CONFIG = /*CONFIG*/{};
  var script = document.currentScript || document.querySelector("script[src*='widget.js']");
  var data = (script && script.dataset) || {};
  var botUrl = (data.botUrl || (script ? new URL(script.src, location.href).origin : location.origin)).replace(/\/+$/, "");
  var retention = CONFIG.retentionDays || 30;
  var privacyUrl = data.privacyUrl || CONFIG.privacyUrl || botUrl + "/datenschutz";
  var maxChars = CONFIG.maxChars || 1000;
  var STORE_KEY = "koblenz-chat:v1:" + botUrl;
  var TOPIC = /^[a-z0-9][a-z0-9-]{0,63}$/;
  var NEW_TAB = "öffnet in neuem Tab";
  var KINDS = { info: "Information", online: "Online-Dienst", appointment: "Termin buchen", payment: "Bezahlen",
    form: "Formular", contact: "Kontakt" };
  var ICON_CHAT = "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm2 5v2h12V8H6zm0 4v2h8v-2H6z";
  var ICON_UP = "M2 21h4V9H2v12zm20-11a2 2 0 0 0-2-2h-6.3l1-4.6v-.3c0-.4-.2-.8-.4-1.1L13.2 1 6.6 7.6c-.4.4-.6.9-.6 1.4v10a2 2 0 0 0 2 2h9c.8 0 1.5-.5 1.8-1.2l3-7.1c.1-.2.2-.5.2-.7v-2z";
  var ICON_DOWN = "M22 3h-4v12h4V3zM2 14a2 2 0 0 0 2 2h6.3l-1 4.6v.3c0 .4.2.8.4 1.1l1.1 1 6.6-6.6c.4-.4.6-.9.6-1.4V5a2 2 0 0 0-2-2H7c-.8 0-1.5.5-1.8 1.2l-3 7.1c-.1.2-.2.5-.2.7v2z";

  // -- state kept for this tab --------------------------------------------------------------------
  var state = load();
  var busy = false;
  var alerts = [];
  var root, dock, launcher, teaser, panel, alertBox, scroller, log, typing, form, input, sendBtn, live;

  function load() {
    try {
      var saved = JSON.parse(sessionStorage.getItem(STORE_KEY) || "null");
      if (saved && saved.v === 1 && Array.isArray(saved.items)) return saved;
    } catch (e) { /* storage disabled or corrupt: start afresh */ }
    return { v: 1, id: null, answers: 0, items: [], open: false, topics: [] };
  }
  function save() {
    try {
      state.items = state.items.slice(-100);
      sessionStorage.setItem(STORE_KEY, JSON.stringify(state));
    } catch (e) { /* storage full or disabled: the conversation still works in this page */ }
  }

  // -- small DOM helpers: elements and text nodes only, no HTML strings anywhere ----------------------
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    for (var name in attrs || {}) {
      if (name === "class") node.className = attrs[name];
      else node.setAttribute(name, attrs[name]);
    }
    if (text != null) node.textContent = text;
    return node;
  }
  function icon(path) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var shape = document.createElementNS(ns, "path");
    shape.setAttribute("fill", "currentColor");
    shape.setAttribute("d", path);
    svg.append(shape);
    return svg;
  }
  function safeUrl(url) {
    try {
      var parsed = new URL(url, location.href);
      return /^(https?|mailto|tel):$/.test(parsed.protocol) ? parsed.href : null;
    } catch (e) { return null; }
  }
  function newTabLink(href, label, cls) {
    var a = el("a", { href: href, target: "_blank", rel: "noopener noreferrer" });
    if (cls) a.className = cls;
    a.append(label, " (" + NEW_TAB + ")");
    return a;
  }
  /** The reply's body from its blocks (the server sends structure, not markup): a title in <strong>,
   *  paragraphs with their line breaks, bullets as a list. Texts are text nodes. Without blocks (an error,
   *  a message stored by an older version) the text's blank lines make the paragraphs. */
  function body(parent, item) {
    var blocks = Array.isArray(item.b) ? item.b : String(item.t).split(/\n{2,}/).map(function (t) { return { text: t }; });
    blocks.forEach(function (block) {
      if (block.type === "bullets") {
        var list = el("ul");
        (block.items || []).forEach(function (entry) { list.append(el("li", null, entry)); });
        return parent.append(list);
      }
      var p = el("p"), box = block.type === "title" ? p.appendChild(el("strong")) : p;
      String(block.text || "").split("\n").forEach(function (line, i) {
        if (i) box.append(el("br"));
        box.append(line);
      });
      parent.append(p);
    });
  }

  // -- colour: data-color, darkened until it meets 4.5:1 with white and with the bubble grey ---------
  function luminance(rgb) {
    var c = rgb.map(function (v) { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }
  function accentColour(value) {
    var m = /^#?([0-9a-f]{3}|[0-9a-f]{6})$/i.exec((value || "").trim());
    if (!m) return null;
    var hex = m[1].length === 3 ? m[1].replace(/./g, "$&$&") : m[1];
    var rgb = [0, 2, 4].map(function (i) { return parseInt(hex.substr(i, 2), 16); });
    var grey = luminance([242, 244, 247]);
    for (var i = 0; i < 40 && (1.05 / (luminance(rgb) + 0.05) < 4.6 || (grey + 0.05) / (luminance(rgb) + 0.05) < 4.6); i++) {
      rgb = rgb.map(function (v) { return Math.floor(v * 0.92); });
    }
    return "rgb(" + rgb.join(",") + ")";
  }

  // -- building the widget ---------------------------------------------------------------------------
  function build() {
    var host = el("div", { id: "koblenz-chat-widget" });
    var shadow = host.attachShadow({ mode: "open" });
    if (shadow.adoptedStyleSheets && window.CSSStyleSheet && CSSStyleSheet.prototype.replaceSync) {
      var sheet = new CSSStyleSheet(); // constructed sheets also work under a strict style-src CSP
      sheet.replaceSync(CSS);
      shadow.adoptedStyleSheets = [sheet];
    } else {
      shadow.append(el("style", null, CSS));
    }
    root = el("div", { class: "kc", lang: "de" });
    var accent = accentColour(data.color);
    if (accent) host.style.setProperty("--kc-accent", accent);
    shadow.append(root);

    dock = el("div", { class: "dock" });
    teaser = el("button", { type: "button", class: "teaser", hidden: "" });
    teaser.addEventListener("click", function () { open(true); });
    launcher = el("button", { type: "button", class: "launcher", "aria-expanded": "false", "aria-controls": "kc-panel" });
    launcher.append(icon(ICON_CHAT), el("span", null, topic() && !state.items.length ? "Fragen zu diesem Thema?" : "Fragen an die Stadt"));
    launcher.addEventListener("click", function () { open(true); });
    dock.append(teaser, launcher);

    panel = el("section", { class: "panel", id: "kc-panel", role: "dialog", "aria-modal": "false", "aria-labelledby": "kc-title", hidden: "" });
    var head = el("div", { class: "head" });
    var titles = el("div", { class: "titles" });
    titles.append(el("h2", { id: "kc-title" }, "Digitaler Assistent"), el("p", null, "Stadtverwaltung Koblenz"));
    var clearBtn = el("button", { type: "button", class: "clear" }, "Verlauf löschen");
    clearBtn.addEventListener("click", clear);
    var closeBtn = el("button", { type: "button", class: "close", "aria-label": "Chat schließen", title: "Chat schließen" }, "×");
    closeBtn.addEventListener("click", close);
    head.append(titles, clearBtn, closeBtn);

    alertBox = el("div", { class: "alert", role: "region", "aria-label": "Aktuelle Warnung", hidden: "" });
    scroller = el("div", { class: "scroll", tabindex: "0", role: "region", "aria-label": "Gesprächsverlauf" });
    log = el("ol", { class: "log", "aria-label": "Nachrichten" });
    typing = el("div", { class: "typing", hidden: "" });
    var dots = el("span", { class: "dots", "aria-hidden": "true" });
    dots.append(el("span"), el("span"), el("span"));
    typing.append(dots, el("span", null, "Der Assistent schreibt …"));
    scroller.append(privacyNote(), log, typing);

    form = el("form", { class: "composer", novalidate: "" });
    var label = el("label", { for: "kc-input", class: "sr" }, "Ihre Frage an den Assistenten");
    input = el("input", { id: "kc-input", type: "text", autocomplete: "off", maxlength: String(maxChars), enterkeyhint: "send", placeholder: "Ihre Frage …" });
    sendBtn = el("button", { type: "submit" }, "Senden");
    form.append(label, input, sendBtn);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = input.value.trim();
      if (!text || busy) return;
      input.value = "";
      send(text, null, text);
    });
    panel.append(head, alertBox, scroller, form);
    panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { event.preventDefault(); close(); }
    });

    live = el("div", { class: "sr", "aria-live": "polite", "aria-atomic": "true" });
    root.append(dock, panel, live);
    document.body.append(host);
  }

  function privacyNote() {
    var box = el("div", { class: "privacy" });
    var first = el("p");
    first.append(el("strong", null, "Datenschutz: "), "Ich bin ein automatischer Assistent. Ihre Fragen werden ohne Namen und ohne IP-Adresse gespeichert und nach "
      + retention + " Tagen gelöscht; Cookies setze ich nicht. Bitte geben Sie keine persönlichen Daten wie Name, Anschrift oder Telefonnummer ein.");
    var second = el("p");
    second.append(newTabLink(safeUrl(privacyUrl) || botUrl + "/datenschutz", "Datenschutzhinweise"));
    box.append(first, second);
    return box;
  }

  // -- rendering messages ----------------------------------------------------------------------------
  function render() {
    log.textContent = "";
    state.items.forEach(function (item, index) { log.append(messageNode(item, index === state.items.length - 1)); });
  }

  function messageNode(item, isLast) {
    var li = el("li", { class: "msg " + (item.r === "u" ? "user" : item.r === "e" ? "error" : "bot") });
    li.append(el("span", { class: "sr" }, item.r === "u" ? "Sie: " : "Assistent: "));
    var bubble = el("div", { class: "bubble" });
    if (item.r === "u") {
      bubble.textContent = item.t;
    } else {
      (item.n || []).forEach(function (notice) { bubble.append(el("p", { class: "notice" }, notice)); });
      body(bubble, item);
      var links = (item.l || []).filter(function (link) { return safeUrl(link.url); });
      if (links.length) {
        var ul = el("ul", { class: "links", "aria-label": "Links" });
        links.forEach(function (link) {
          var a = el("a", { href: safeUrl(link.url), target: "_blank", rel: "noopener noreferrer" });
          a.append(el("span", { class: "lt" }, link.title), el("span", { class: "lk" }, (KINDS[link.kind] || "Link") + " · " + NEW_TAB));
          var entry = el("li"); entry.append(a); ul.append(entry);
        });
        bubble.append(ul);
      }
    }
    li.append(bubble);
    if (item.r === "b" && isLast && item.q && item.q.length) li.append(quickReplies(item.q));
    if (item.r === "b" && item.k) li.append(feedbackBox(item));
    return li;
  }

  function quickReplies(choices) {
    var group = el("div", { class: "quick", role: "group", "aria-label": "Antwortvorschläge" });
    choices.forEach(function (choice) {
      var button = el("button", { type: "button" }, choice.title);
      button.addEventListener("click", function () {
        if (busy) return;
        input.focus();
        send(choice.title, choice.payload, choice.title);
      });
      group.append(button);
    });
    return group;
  }

  function feedbackBox(item) {
    var box = el("div", { class: "fb", role: "group", "aria-label": "Rückmeldung zu dieser Antwort" });
    box.append(el("span", null, "War das hilfreich?"));
    // the accessible names start with the visible words (WCAG 2.5.3 label in name)
    var up = el("button", { type: "button", "aria-pressed": String(item.f === "up"), "aria-label": "Ja, hilfreich" });
    up.append(icon(ICON_UP), el("span", null, "Ja"));
    var down = el("button", { type: "button", "aria-pressed": String(item.f === "down"), "aria-label": "Nein, nicht hilfreich" });
    down.append(icon(ICON_DOWN), el("span", null, "Nein"));
    var note = el("span", { class: "fbnote" });
    up.addEventListener("click", function () { rate(item, "up", null, box); });
    down.addEventListener("click", function () { rate(item, "down", null, box); });
    box.append(up, down, note);
    return box;
  }

  function commentForm(item, box) {
    var f = el("form", { class: "fbc" });
    var id = "kc-c" + item.k;
    f.append(el("label", { for: id }, "Was hat gefehlt? (freiwillig, bitte ohne persönliche Daten)"));
    var area = el("textarea", { id: id, maxlength: "500", rows: "2" });
    f.append(area, el("button", { type: "submit" }, "Anmerkung senden"));
    f.addEventListener("submit", function (event) {
      event.preventDefault();
      if (area.value.trim()) rate(item, "down", area.value.trim(), box);
    });
    return f;
  }

  function rate(item, rating, comment, box) {
    var body = { conversation_id: state.id, turn: item.k, rating: rating };
    if (comment) body.comment = comment;
    request("POST", "/api/feedback", body).then(function (res) {
      var note = box.querySelector(".fbnote");
      if (!res.ok) {
        note.textContent = res.data && res.data.message || "Die Rückmeldung konnte nicht gespeichert werden.";
        announce(note.textContent);
        return;
      }
      item.f = rating;
      save();
      var buttons = box.querySelectorAll("button[aria-pressed]");
      buttons[0].setAttribute("aria-pressed", String(rating === "up"));
      buttons[1].setAttribute("aria-pressed", String(rating === "down"));
      var old = box.querySelector("form");
      if (comment) {
        note.textContent = "Danke, Ihre Anmerkung hilft uns, die Antworten zu verbessern.";
        if (old) old.remove();
        announce(note.textContent);
        buttons[1].focus();
        return;
      }
      note.textContent = "Danke für Ihre Rückmeldung.";
      announce(note.textContent);
      if (rating === "down" && !old) {
        var f = commentForm(item, box);
        box.append(f);
      } else if (rating === "up" && old) {
        old.remove();
      }
    });
  }

  function append(item) {
    state.items.push(item);
    save();
    if (item.r === "b") {
      var quick = log.querySelectorAll(".quick");
      for (var i = 0; i < quick.length; i++) quick[i].remove();
    }
    var node = messageNode(item, true);
    log.append(node);
    scroller.scrollTop = item.r === "u" ? scroller.scrollHeight : Math.max(0, node.offsetTop - 8);
    return node;
  }

  function announce(text) {
    live.textContent = "";
    setTimeout(function () { live.textContent = text; }, 60);
  }

  // -- talking to the bot ----------------------------------------------------------------------------
  function request(method, path, body) {
    var options = { method: method, credentials: "omit", cache: "no-store", headers: {} };
    if (body) { options.headers["Content-Type"] = "application/json"; options.body = JSON.stringify(body); }
    return fetch(botUrl + path, options).then(function (res) {
      return res.json().catch(function () { return null; }).then(function (json) { return { ok: res.ok, status: res.status, data: json }; });
    }, function () { return { ok: false, status: 0, data: null }; });
  }

  function setBusy(value) {
    busy = value;
    typing.hidden = !value;
    log.setAttribute("aria-busy", String(value));
    sendBtn.setAttribute("aria-disabled", String(value));
    if (value) scroller.scrollTop = scroller.scrollHeight;
  }

  function send(text, payload, shown) {
    var body = { message: text || "" };
    if (payload) body.payload = payload;
    if (state.id) body.conversation_id = state.id;
    var quick = log.querySelectorAll(".quick");
    for (var i = 0; i < quick.length; i++) quick[i].hidden = true;
    var mine = shown ? append({ r: "u", t: shown }) : null;
    setBusy(true);
    return request("POST", "/api/chat", body).then(function (res) {
      setBusy(false);
      if (res.ok && res.data && typeof res.data.text === "string") {
        state.id = res.data.conversation_id;
        state.answers += 1;
        var reply = { r: "b", t: res.data.text, b: res.data.blocks, n: res.data.notices || [], l: res.data.links || [], q: res.data.quick_replies || [], k: state.answers, f: null };
        append(reply);
        announce("Antwort des Assistenten: " + reply.n.concat([reply.t]).join(" "));
        return;
      }
      // Nothing is lost: the message goes back into the input (or the buttons come back).
      if (mine) { mine.remove(); state.items.pop(); save(); }
      for (var j = 0; j < quick.length; j++) quick[j].hidden = false;
      if (!payload && text) input.value = text;
      var message = res.status === 429
        ? (res.data && res.data.message || "Sie schreiben gerade sehr schnell. Bitte warten Sie einen Moment.") + " Ihre Nachricht steht wieder im Eingabefeld."
        : res.status === 0
          ? "Der Assistent ist gerade nicht erreichbar. Bitte prüfen Sie Ihre Verbindung und versuchen Sie es gleich noch einmal."
          : (res.data && res.data.message) || "Das hat leider nicht geklappt. Bitte versuchen Sie es noch einmal.";
      var li = messageNode({ r: "e", t: message }, false);
      log.append(li);
      scroller.scrollTop = scroller.scrollHeight;
      announce(message);
    });
  }

  function clear() {
    var id = state.id;
    var done = function (res) {
      state = { v: 1, id: null, answers: 0, items: [], open: true, topics: state.topics };
      save();
      render();
      var message = !id || (res && res.ok)
        ? "Der Verlauf wurde gelöscht, auch auf unserem Server."
        : "Der Verlauf wurde in diesem Browser gelöscht. Auf dem Server wird er spätestens nach " + retention + " Tagen gelöscht.";
      log.append(messageNode({ r: "e", t: message }, false));
      announce(message);
      input.focus();
    };
    if (id) request("DELETE", "/api/chat/" + encodeURIComponent(id)).then(done);
    else done(null);
  }

  // -- alerts ------------------------------------------------------------------------------------------
  function loadAlerts() {
    return request("GET", "/api/alerts").then(function (res) {
      alerts = res.ok && res.data && Array.isArray(res.data.alerts) ? res.data.alerts : [];
      showAlerts();
    });
  }

  function showAlerts() {
    alertBox.textContent = "";
    teaser.textContent = "";
    if (!alerts.length) { alertBox.hidden = true; teaser.hidden = true; return; }
    var first = alerts[0];
    var severity = first.severity_label || "Warnung"; // German, from the server's one vocabulary
    var severe = first.severity === "Extreme" || first.severity === "Severe";
    alertBox.className = "alert" + (severe ? "" : " moderate");
    var p = el("p");
    p.append(el("span", { class: "sev" }, "⚠ " + severity + ": "), first.headline);
    alertBox.append(p);
    if (first.areas && first.areas.length) alertBox.append(el("p", null, "Betroffen: " + first.areas.join(", ")));
    var more = el("p");
    var web = first.web && safeUrl(first.web);
    if (web) more.append(newTabLink(web, "Mehr zur Warnung"));
    if (alerts.length > 1) more.append((web ? " · " : "") + "und " + (alerts.length - 1) + " weitere Warnung" + (alerts.length > 2 ? "en" : ""));
    if (more.childNodes.length) alertBox.append(more);
    alertBox.hidden = false;
    teaser.append(el("strong", null, "⚠ " + severity + ":"), " ", el("span", null, first.headline), el("span", { class: "sr" }, " – Chat öffnen"));
    teaser.hidden = false;
  }

  // -- opening and closing ------------------------------------------------------------------------------
  function topic() {
    var fromUrl = new URLSearchParams(location.search).get("chat");
    var wanted = fromUrl || data.topic;
    return wanted && TOPIC.test(wanted) ? wanted : null;
  }

  function open(focus) {
    if (panel.hidden) {
      panel.hidden = false;
      panel.classList.add("opening");
      dock.hidden = true;
      launcher.setAttribute("aria-expanded", "true");
      state.open = true;
      save();
      loadAlerts();
    }
    var wanted = topic();
    if (wanted && state.topics.indexOf(wanted) < 0) {
      state.topics.push(wanted);
      save();
      send("", "svc:" + wanted + ":overview", null);
    }
    if (focus) input.focus();
  }

  function close() {
    panel.hidden = true;
    panel.classList.remove("opening");
    dock.hidden = false;
    launcher.setAttribute("aria-expanded", "false");
    state.open = false;
    save();
    launcher.focus();
  }

  function start() {
    build();
    render();
    loadAlerts();
    setInterval(function () { if (!document.hidden) loadAlerts(); }, 120000);
    var fromUrl = new URLSearchParams(location.search).get("chat");
    if (fromUrl && TOPIC.test(fromUrl) && state.topics.indexOf(fromUrl) < 0) open(true);
    else if (state.open) open(false);
  }

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
