// interleaf view: folding, keyboard navigation, more steps as you scroll, live sessions, live search.
// Plain JavaScript, no dependencies; the same file runs inlined in exported sessions (no server there).
(function () {
  "use strict";

  var main = document.getElementById("main");
  var CHUNK_CHARS = 8000;

  // ------------------------------------------------------------------ long text, rendered lazily
  // A long block is split into chunks the browser lays out only when they scroll into view
  // (content-visibility: auto), so a 300 KB thinking block opens at once.
  function fillChunked(container, text) {
    container.textContent = "";
    var pos = 0;
    while (pos < text.length) {
      var end = Math.min(pos + CHUNK_CHARS, text.length);
      if (end < text.length) {
        var newline = text.lastIndexOf("\n", end);
        if (newline > pos + CHUNK_CHARS / 2) end = newline + 1;
      }
      var piece = document.createElement("span");
      piece.className = "chunk";
      piece.style.display = "block";
      piece.textContent = text.slice(pos, end);
      container.appendChild(piece);
      pos = end;
    }
  }

  function templateText(template) {
    return template ? template.content.textContent : "";
  }

  document.addEventListener("toggle", function (event) {
    var details = event.target;
    if (!details.matches || !details.matches("details.thinking") || !details.open) return;
    var body = details.querySelector(":scope > .body[data-virtual]");
    if (body && !body.dataset.filled) {
      var pre = document.createElement("pre");
      body.appendChild(pre);
      fillChunked(pre, templateText(details.querySelector(":scope > template")));
      body.dataset.filled = "1";
    }
  }, true);

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-show-all]") : null;
    if (!button) return;
    var result = button.parentElement;
    var pre = result.querySelector("pre.out");
    fillChunked(pre, templateText(result.querySelector(":scope > template")));
    button.remove();
  });

  // ------------------------------------------------------------------ figures counted after the first paint
  Array.prototype.slice.call(document.querySelectorAll("[data-stats-url]")).forEach(function (field) {
    fetch(field.getAttribute("data-stats-url")).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (stats) {
      if (stats) field.textContent = stats[field.getAttribute("data-stat")];
    }).catch(function () { /* the dash stays */ });
  });

  // ------------------------------------------------------------------ more entries as you scroll
  var timelineList = document.querySelector("[data-timeline]");
  var more = document.querySelector("[data-more]");
  var loading = null;

  function loadMore() {
    if (!more || !timelineList) return Promise.resolve(false);
    if (loading) return loading;
    var url = more.getAttribute("data-more");
    loading = fetch(url, { headers: { "accept": "text/html" } }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      var next = response.headers.get("x-next-url");
      return response.text().then(function (html) {
        timelineList.insertAdjacentHTML("beforeend", html);
        if (next) {
          more.setAttribute("data-more", next);
        } else {
          more.remove();
          more = null;
        }
        return true;
      });
    }).catch(function (error) {
      if (more) more.textContent = "Could not load more steps (" + error.message + "); reload the page.";
      return false;
    }).finally(function () {
      loading = null;
    });
    return loading;
  }

  if (more && "IntersectionObserver" in window) {
    more.textContent = "Loading more steps…";
    var observer = new IntersectionObserver(function (items) {
      items.forEach(function (item) {
        if (item.isIntersecting) loadMore().then(function (ok) {
          if (ok && more) { observer.unobserve(more); observer.observe(more); }
        });
      });
    }, { rootMargin: "2000px 0px" });
    observer.observe(more);
  }

  // ------------------------------------------------------------------ keyboard
  var current = null;

  function navigable() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-nav]"));
  }

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("tr[data-row]"));
  }

  function firstVisible(items) {
    for (var i = 0; i < items.length; i++) {
      if (items[i].getBoundingClientRect().bottom > 70) return i;
    }
    return items.length - 1;
  }

  function select(item) {
    if (current) current.classList.remove("current");
    current = item;
    if (!item) return;
    item.classList.add("current");
    item.scrollIntoView({ block: item.tagName === "TR" ? "nearest" : "start" });
    if (item.tagName !== "TR") item.focus({ preventScroll: true });
  }

  function move(delta) {
    var items = navigable();
    var table = false;
    if (!items.length) { items = rows(); table = true; }
    if (!items.length) return;
    var at = current ? items.indexOf(current) : -1;
    var target;
    if (at < 0) target = table ? (delta > 0 ? 0 : items.length - 1) : firstVisible(items);
    else target = at + delta;
    if (target >= items.length && more) {
      loadMore().then(function (ok) { if (ok) move(delta); });
      return;
    }
    select(items[Math.max(0, Math.min(items.length - 1, target))]);
  }

  function toggleThinking(scope) {
    var blocks = Array.prototype.slice.call(scope.querySelectorAll("details.thinking"));
    if (!blocks.length) return;
    var open = blocks.some(function (d) { return !d.open; });
    blocks.forEach(function (d) { d.open = open; });
  }

  function openHelp() {
    var dialog = document.getElementById("keys-dialog");
    if (!dialog) return;
    if (dialog.open) dialog.close(); else dialog.showModal();
  }

  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-help]")) openHelp();
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || event.target.isContentEditable) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    var key = event.key;
    if (key === "j") { move(1); }
    else if (key === "k") { move(-1); }
    else if (key === "t") {
      var scope = current && current.hasAttribute("data-nav") ? current : null;
      if (!scope) { var items = navigable(); scope = items[firstVisible(items)]; if (scope) select(scope); }
      if (scope) toggleThinking(scope);
    }
    else if (key === "T") { toggleThinking(document); }
    else if (key === "?") { openHelp(); }
    else if (key === "/") {
      var search = document.querySelector("input[type=search]");
      if (search) search.focus(); else return;
    }
    else if (key === "Enter" && current && current.tagName === "TR") {
      var link = current.querySelector("a[data-open]");
      if (link) link.click(); else return;
    }
    else { return; }
    event.preventDefault();
  });

  // ------------------------------------------------------------------ a running session
  var liveUrl = main && main.getAttribute("data-live-url");
  if (liveUrl && window.EventSource) {
    var entriesUrl = main.getAttribute("data-entries-url");
    var status = document.querySelector("[data-live-status]");
    var source = new EventSource(liveUrl);
    var refreshing = Promise.resolve();

    var refresh = function () {
      // Re-render from the last entry on: it may have gained its tool results since.
      if (more || !timelineList) return Promise.resolve();
      var entries = timelineList.querySelectorAll(":scope > li.entry[data-owner]");
      var last = entries.length ? Number(entries[entries.length - 1].getAttribute("data-owner")) : 0;
      return fetch(entriesUrl + "?start=" + last + "&count=500").then(function (response) {
        if (!response.ok) return;
        var next = response.headers.get("x-next-url");
        return response.text().then(function (html) {
          Array.prototype.slice.call(timelineList.querySelectorAll(":scope > li[data-owner]")).forEach(function (li) {
            if (Number(li.getAttribute("data-owner")) >= last) li.remove();
          });
          timelineList.insertAdjacentHTML("beforeend", html);
          if (next) {
            more = document.createElement("div");
            more.className = "more";
            more.setAttribute("data-more", next);
            timelineList.after(more);
          }
        });
      });
    };

    source.addEventListener("update", function (event) {
      var data = JSON.parse(event.data);
      ["status", "steps", "tokens"].forEach(function (name) {
        var field = document.querySelector('[data-live-field="' + name + '"]');
        if (field && data[name] !== undefined) field.textContent = String(data[name]).split("_").join(" ");
      });
      var badge = document.querySelector('[data-live-field="status"]');
      if (badge) badge.className = "status status-" + data.status;
      refreshing = refreshing.then(refresh);
    });
    source.addEventListener("end", function (event) {
      source.close();
      var data = JSON.parse(event.data);
      refreshing = refreshing.then(refresh).then(function () {
        if (status) status.textContent = "The session has ended (" + data.status.split("_").join(" ") + ").";
        main.setAttribute("data-live-ended", data.status);
      });
    });
    source.addEventListener("problem", function (event) {
      source.close();
      if (status) status.textContent = JSON.parse(event.data).message;
    });
  }

  // ------------------------------------------------------------------ live search of the sessions list
  var form = document.querySelector("form[data-live-search]");
  if (form && window.fetch) {
    var results = document.getElementById("results");
    var timer = null;
    var sequence = 0;
    var search = function () {
      var params = new URLSearchParams(new FormData(form));
      params.delete("page");
      Array.from(params.keys()).forEach(function (key) { if (!params.get(key)) params.delete(key); });
      var query = params.toString();
      var mine = ++sequence;
      params.set("fragment", "1");
      fetch(form.action + "?" + params.toString()).then(function (response) {
        return response.ok ? response.text() : null;
      }).then(function (html) {
        if (html === null || mine !== sequence) return;
        results.innerHTML = html;
        current = null;
        history.replaceState(null, "", form.action + (query ? "?" + query : ""));
      });
    };
    form.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(search, 200);
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      clearTimeout(timer);
      search();
    });
  }
})();
