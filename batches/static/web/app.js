/* Supervised warehouse — a little vanilla JS, no build step. Every page works without it;
   this adds the scanner conveniences (focus, lists, duplicates), countdowns and line editing. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) { return values[key]; });
  }

  /* --- countdowns to rest_until ------------------------------------------------------- */
  function tick() {
    var now = Date.now();
    $all("[data-countdown]").forEach(function (el) {
      var until = Date.parse(el.getAttribute("data-countdown"));
      if (isNaN(until)) { return; }
      var left = Math.max(0, Math.floor((until - now) / 1000));
      if (left === 0) {
        el.textContent = el.getAttribute("data-done-text");
        el.classList.add("countdown-done");
        el.removeAttribute("data-countdown");
        return;
      }
      var d = Math.floor(left / 86400), h = Math.floor(left % 86400 / 3600),
          m = Math.floor(left % 3600 / 60), s = left % 60;
      var values = { d: d, h: h, m: m, s: s };
      if (d > 0) { el.textContent = fill(el.getAttribute("data-fmt-d"), values); }
      else if (h > 0) { el.textContent = fill(el.getAttribute("data-fmt-h"), values); }
      else { el.textContent = fill(el.getAttribute("data-fmt-m"), values); }
    });
  }

  /* --- the scan box keeps focus ----------------------------------------------------- */
  function scanBox() { return $("[data-scan-box]"); }
  function isField(el) {
    return el && el !== document.body && /^(INPUT|SELECT|TEXTAREA|BUTTON|A|SUMMARY|DETAILS)$/.test(el.tagName);
  }
  function refocusSoon() {
    var box = scanBox();
    if (!box) { return; }
    setTimeout(function () {
      if (!isField(document.activeElement)) { box.focus(); }
    }, 150);
  }
  function keepScanFocus() {
    var box = scanBox();
    if (!box) { return; }
    if (!isField(document.activeElement) || document.activeElement === document.body) { box.focus(); }
    document.addEventListener("focusout", refocusSoon);
    document.addEventListener("click", function (event) { if (!isField(event.target.closest("input,select,textarea,button,a,summary,label"))) { refocusSoon(); } });
    // A scanner "types" into whatever has focus: letters typed on the bare page go to the box.
    document.addEventListener("keydown", function (event) {
      if (isField(document.activeElement) || event.ctrlKey || event.metaKey || event.altKey) { return; }
      if (event.key && event.key.length === 1) { box.focus(); }
    });
  }

  /* --- scan lists: sell and release by scanning -------------------------------------- */
  function scanKey(value) {
    var v = value.trim();
    var path = v.replace(/^[a-z]+:\/\/[^/]+/i, "");
    var c = path.match(/\/c\/([A-Za-z2-7]{24})\/?$/);
    if (c) { return c[1].toUpperCase(); }
    var dl = path.match(/\/01\/(\d+)\/10\/([^/]+)\/21\/([A-Za-z0-9]+)\/?$/);
    if (dl) { return "DL:" + dl[2] + ":" + dl[3].toUpperCase(); }
    return /^[A-Za-z2-7]{24}$/.test(v) ? v.toUpperCase() : v;
  }
  function setupScanList(form) {
    var input = $("[data-scan-input]", form);
    var store = $("[data-scan-store]", form) || $("textarea[name=codes]", form);
    var rows = $("[data-scan-rows]", form);
    var count = $("[data-scan-count]", form);
    var feedback = $("[data-scan-feedback]", form);
    var duplicateText = form.getAttribute("data-duplicate-text") || "Duplicate";
    if (!input || !store || !rows) { return; }
    var wrapper = store.closest(".field");
    if (wrapper) { wrapper.classList.add("scan-store-field"); }
    var problems = {};
    $all("[data-problem]", form).forEach(function (li) { problems[li.getAttribute("data-problem")] = li.textContent; });

    function values() { return store.value.split(/\r?\n/).map(function (s) { return s.trim(); }).filter(Boolean); }
    function render() {
      var list = values();
      rows.innerHTML = "";
      list.forEach(function (value, index) {
        var li = document.createElement("li");
        var code = document.createElement("code");
        code.textContent = value;
        li.appendChild(code);
        if (problems[value]) { li.classList.add("bad"); li.title = problems[value]; }
        var remove = document.createElement("button");
        remove.type = "button";
        remove.className = "btn btn-quiet btn-small";
        remove.textContent = "×";
        remove.setAttribute("aria-label", "remove " + value);
        remove.addEventListener("click", function () {
          var now = values();
          now.splice(index, 1);
          store.value = now.join("\n");
          render();
          input.focus();
        });
        li.appendChild(remove);
        rows.appendChild(li);
      });
      if (count) { count.textContent = String(list.length); }
    }
    input.addEventListener("keydown", function (event) {
      if (event.key !== "Enter") { return; }
      event.preventDefault();
      var value = input.value.trim();
      input.value = "";
      if (!value) { return; }
      var key = scanKey(value);
      var list = values();
      var seen = list.some(function (v) { return scanKey(v) === key; });
      if (seen) {
        if (feedback) { feedback.textContent = duplicateText + ": " + value; }
        return;
      }
      if (feedback) { feedback.textContent = ""; }
      list.push(value);
      store.value = list.join("\n");
      render();
    });
    render();
  }

  /* --- declaration: add / remove goods lines ---------------------------------------- */
  function setupLines(form) {
    var holder = $("[data-lines]", form);
    var template = $("[data-line-template]", form);
    var total = $("input[name$='-TOTAL_FORMS']", form);
    if (!holder || !template || !total) { return; }
    var prefix = total.name.replace(/-TOTAL_FORMS$/, "");
    function renumber() {
      var lines = $all("[data-line]", holder);
      lines.forEach(function (line, index) {
        var no = $("[data-line-no]", line);
        if (no) { no.textContent = String(index + 1); }
        $all("input,select,textarea,label,div,ul", line).forEach(function (el) {
          ["name", "id", "for", "aria-describedby"].forEach(function (attr) {
            var v = el.getAttribute(attr);
            if (v) { el.setAttribute(attr, v.replace(new RegExp(prefix + "-(\\d+|__prefix__)-", "g"), prefix + "-" + index + "-")); }
          });
        });
        var remove = $("[data-remove-line]", line);
        if (remove) { remove.hidden = lines.length < 2; }
      });
      total.value = String(lines.length);
    }
    form.addEventListener("click", function (event) {
      if (event.target.closest("[data-add-line]")) {
        var fragment = template.content.cloneNode(true);
        holder.appendChild(fragment);
        renumber();
        var lines = $all("[data-line]", holder);
        var first = $("input", lines[lines.length - 1]);
        if (first) { first.focus(); }
      }
      var remove = event.target.closest("[data-remove-line]");
      if (remove) {
        remove.closest("[data-line]").remove();
        renumber();
      }
    });
    renumber();
  }

  /* --- confirmations and double submits --------------------------------------------- */
  function setupForms() {
    $all("form").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        var question = form.getAttribute("data-confirm");
        if (question && !window.confirm(question)) { event.preventDefault(); return; }
        var button = event.submitter;
        if (button && button.type === "submit") {
          // Disabled after the browser has read the pressed button's name/value.
          setTimeout(function () { button.disabled = true; }, 0);
        }
      });
    });
  }

  /* --- downloads that take a while (label PDFs, exports) ---------------------------- */
  function setupDownloads() {
    $all("a[data-download]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        if (!window.fetch) { return; }
        event.preventDefault();
        var status = link.parentNode.querySelector(".download-progress");
        var say = function (text) { if (status) { status.textContent = text; } };
        say(link.getAttribute("data-progress-text"));
        var poll = function (url) {
          fetch(url, { credentials: "same-origin", headers: { Accept: "application/pdf, application/json, */*" } })
            .then(function (response) {
              var type = response.headers.get("Content-Type") || "";
              if (response.status === 202 || (response.ok && type.indexOf("json") >= 0)) {
                return response.json().then(function (job) {
                  // A label job (GET /api/label-jobs/{id}/): {state, done, total, status_url, download_url}.
                  // Failed (or its worker died): the reason, and pressing the button again retries the same job.
                  if (job.state === "failed") {
                    say([link.getAttribute("data-fail-text"), job.error || "", job.retry_url ? link.getAttribute("data-retry-text") || "" : ""].join(" "));
                    return;
                  }
                  var pct = job.total ? Math.floor(100 * job.done / job.total) : null;
                  say(link.getAttribute("data-progress-text") + (pct != null ? " " + pct + "% (" + job.done + "/" + job.total + ")" : ""));
                  if (job.download_url) { window.location.href = job.download_url; say(link.getAttribute("data-done-text")); return; }
                  setTimeout(function () { poll(job.status_url || response.headers.get("Location") || url); }, 1000);
                });
              }
              if (!response.ok) { throw new Error(String(response.status)); }
              return response.blob().then(function (blob) {
                var a = document.createElement("a");
                a.href = URL.createObjectURL(blob);
                a.download = (link.getAttribute("href").split("/").slice(-2).join("-")) || "download";
                document.body.appendChild(a); a.click(); a.remove();
                say(link.getAttribute("data-done-text"));
              });
            })
            .catch(function () { say(link.getAttribute("data-fail-text")); });
        };
        poll(link.getAttribute("href"));
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
    $all("form[data-scan-list]").forEach(setupScanList);
    $all("form[data-declare-form]").forEach(setupLines);
    setupForms();
    setupDownloads();
    keepScanFocus();
  });
})();
