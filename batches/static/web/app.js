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
        document.dispatchEvent(new CustomEvent("countdown-done"));
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

  /* --- signals: a beep and a buzz for each scan (accepted / refused) ------------------ */
  var audio = null;
  function signal(ok) {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (Ctx) {
        audio = audio || new Ctx();
        var beeps = ok ? [[0, 0.12, 880]] : [[0, 0.15, 220], [0.22, 0.15, 220]];
        beeps.forEach(function (b) {
          var osc = audio.createOscillator(), gain = audio.createGain();
          osc.type = ok ? "sine" : "square";
          osc.frequency.value = b[2];
          gain.gain.value = 0.15;
          osc.connect(gain); gain.connect(audio.destination);
          osc.start(audio.currentTime + b[0]);
          osc.stop(audio.currentTime + b[0] + b[1]);
        });
      }
    } catch (e) { /* no sound on this device */ }
    if (navigator.vibrate) { navigator.vibrate(ok ? 60 : [120, 80, 120]); }
  }

  /* --- what was typed and scanned, kept in this tab until it was sent ------------------ */
  function draftKey(form) { return "draft:" + (form.getAttribute("data-keep") || location.pathname); }
  function keptFields(form) {
    return $all("input[name],textarea[name],select[name]", form).filter(function (el) {
      return el.name !== "csrfmiddlewaretoken" && el.type !== "hidden" && el.type !== "password";
    });
  }
  function saveDraft(form) {
    var fields = {};
    keptFields(form).forEach(function (el) {
      if (el.type === "radio" || el.type === "checkbox") { if (el.checked) { fields[el.name] = el.value; } }
      else { fields[el.name] = el.value; }
    });
    try { sessionStorage.setItem(draftKey(form), JSON.stringify({ user: document.body.getAttribute("data-user"), fields: fields })); } catch (e) { /* private mode */ }
  }
  function dropDraft(key) { try { sessionStorage.removeItem(key); } catch (e) { /* ignore */ } }
  function restoreDraft(form) {
    var raw = null;
    try { raw = sessionStorage.getItem(draftKey(form)); } catch (e) { return; }
    if (!raw) { return; }
    var draft = JSON.parse(raw);
    if (!draft || draft.user !== document.body.getAttribute("data-user")) { return; }
    // The server filled the form (it was sent and came back with errors): that is the newer copy.
    var filled = keptFields(form).some(function (el) { return el.type !== "radio" && el.type !== "checkbox" && el.value.trim(); });
    if (filled) { return; }
    keptFields(form).forEach(function (el) {
      var value = draft.fields[el.name];
      if (value === undefined) { return; }
      if (el.type === "radio" || el.type === "checkbox") { el.checked = el.value === value; }
      else { el.value = value; }
    });
    form.setAttribute("data-restored", "true");
  }
  function setupDrafts() {
    var sent = null;
    try { sent = sessionStorage.getItem("draft-sent"); sessionStorage.removeItem("draft-sent"); } catch (e) { return; }
    // Sent and accepted (the next page says so): forget it; refused or lost: keep it.
    if (sent && $(".message-success")) { dropDraft(sent); }
    $all("form[data-keep]").forEach(function (form) {
      restoreDraft(form);
      form.addEventListener("input", function () { saveDraft(form); });
      form.addEventListener("change", function () { saveDraft(form); });
      form.addEventListener("submit", function () {
        saveDraft(form);
        try { sessionStorage.setItem("draft-sent", draftKey(form)); } catch (e) { /* ignore */ }
      });
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
    var summary = $("[data-scan-summary]", form);
    var t = function (name, fallback) { return form.getAttribute("data-text-" + name) || fallback; };
    var action = form.getAttribute("data-scan-action");
    var batchNumber = form.getAttribute("data-scan-batch");
    var checkUrl = form.getAttribute("data-check-url");
    if (!input || !store || !rows) { return; }
    var wrapper = store.closest(".field");
    if (wrapper) { wrapper.classList.add("scan-store-field"); }
    var problems = {};
    $all("[data-problem]", form).forEach(function (li) { problems[li.getAttribute("data-problem")] = li.getAttribute("data-problem-text") || li.textContent; });
    var facts = {};  // scanKey → {state, product, item, status, problem}

    function values() { return store.value.split(/\r?\n/).map(function (s) { return s.trim(); }).filter(Boolean); }
    function setValues(list) {
      store.value = list.join("\n");
      store.dispatchEvent(new Event("input", { bubbles: true }));
      render();
    }
    function judge(data) {
      if (data.kind !== "code") { return { state: "bad", problem: t("batch-label", "This is a batch label, not an item") }; }
      var code = data.code, line = code.line || {};
      var info = { product: line.product_name, spec: line.specification, item: code.item_no, status: code.status_display };
      if (batchNumber && data.batch.number !== batchNumber) {
        info.state = "bad"; info.problem = fill(t("other-batch", "Belongs to batch {number}"), { number: data.batch.number });
      } else if (action && (data.allowed_actions || []).indexOf(action) < 0) {
        // Why, in words (sell a code still in the warehouse: the crew must release it first), else the status
        info.state = "bad"; info.problem = t("refused-" + action + "-" + code.status, "") || fill(t("not-allowed", "Not possible now: {status}"), { status: code.status_display });
      } else { info.state = "ok"; }
      return info;
    }
    function check(value, announce) {
      var key = scanKey(value);
      if (!checkUrl || !window.fetch) { return; }
      facts[key] = { state: "checking" };
      fetch(checkUrl + "?value=" + encodeURIComponent(value), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (response.status === 404) { return { state: "bad", problem: t("unknown", "Unknown code") }; }
          if (response.status === 401 || response.status === 403) { return { state: "unchecked", problem: t("signed-out", "Not checked: sign in again") }; }
          if (!response.ok) { return { state: "unchecked", problem: t("unchecked", "Not checked yet") }; }
          return response.json().then(judge);
        })
        .catch(function () { return { state: "unchecked", problem: t("offline", "Not checked: no network") }; })
        .then(function (info) {
          if (values().map(scanKey).indexOf(key) < 0) { return; }  // removed meanwhile
          facts[key] = info;
          if (announce && info.state !== "unchecked") {
            signal(info.state === "ok");
            form.setAttribute("data-last-signal", info.state);
          }
          render();
        });
    }
    function render() {
      var list = values();
      rows.innerHTML = "";
      var bad = 0;
      list.forEach(function (value, index) {
        var key = scanKey(value);
        var info = facts[key] || {};
        if (problems[value]) { info = { state: "bad", problem: problems[value], product: info.product, item: info.item }; }
        var li = document.createElement("li");
        li.className = "scan-item scan-" + (info.state || "unchecked");
        li.setAttribute("data-scan-state", info.state || "unchecked");
        var what = document.createElement("div");
        what.className = "scan-what";
        var title = document.createElement("strong");
        title.textContent = info.product ? info.product + (info.spec ? " · " + info.spec : "") : t("code", "Code");
        what.appendChild(title);
        if (info.item) {
          var item = document.createElement("span");
          item.className = "scan-item-no";
          item.textContent = fill(t("item", "Item {n}"), { n: info.item });
          what.appendChild(item);
        }
        var raw = document.createElement("code");
        raw.className = "scan-raw";
        raw.textContent = value;
        what.appendChild(raw);
        if (info.problem) {
          var why = document.createElement("span");
          why.className = "scan-problem";
          why.textContent = info.problem;
          what.appendChild(why);
        }
        li.appendChild(what);
        var chip = document.createElement("span");
        var tone = { ok: "ok", bad: "danger", checking: "info" }[info.state] || "muted";
        chip.className = "status status-" + tone;
        chip.textContent = { ok: t("ok", "OK"), bad: t("bad", "Problem"), checking: t("checking", "Checking…") }[info.state] || t("not-checked", "Not checked");
        li.appendChild(chip);
        if (info.state === "bad") { bad += 1; }
        var remove = document.createElement("button");
        remove.type = "button";
        remove.className = "btn btn-quiet btn-icon";
        remove.textContent = "×";
        remove.setAttribute("aria-label", fill(t("remove", "Remove {value}"), { value: info.item ? fill(t("item", "Item {n}"), { n: info.item }) : value }));
        remove.addEventListener("click", function () {
          var now = values();
          now.splice(index, 1);
          setValues(now);
          input.focus();
        });
        li.appendChild(remove);
        rows.appendChild(li);
      });
      if (count) { count.textContent = String(list.length); }
      if (summary) { summary.textContent = bad ? fill(t("problems", "{n} scanned codes have a problem"), { n: bad }) : ""; }
      form.setAttribute("data-scan-problems", String(bad));
    }
    function add(value) {
      value = value.trim();
      if (!value) { return; }
      var key = scanKey(value);
      var list = values();
      if (list.some(function (v) { return scanKey(v) === key; })) {
        var seen = facts[key] || {};
        if (feedback) { feedback.textContent = t("duplicate", "Already scanned") + t("colon", ": ") + (seen.item ? fill(t("item", "Item {n}"), { n: seen.item }) + (seen.product ? " · " + seen.product : "") : value); }
        signal(false);
        form.setAttribute("data-last-signal", "duplicate");
        return;
      }
      if (feedback) { feedback.textContent = ""; }
      list.push(value);
      setValues(list);
      check(value, true);
    }
    form.scanAdd = add;  // the camera (below) scans into the same list
    form.scanReset = function () { facts = {}; problems = {}; setValues([]); };
    input.addEventListener("keydown", function (event) {
      if (event.key !== "Enter") { return; }
      event.preventDefault();
      var value = input.value;
      input.value = "";
      add(value);
    });
    render();
    values().forEach(function (value) { check(value, false); });
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

  /* --- no phone keyboard until the box is tapped ---------------------------------------
     A keyboard-wedge scanner types whatever the input mode; a person who wants to type taps. */
  function setupQuietKeyboard() {
    $all("[data-scan-box], input[autofocus]").forEach(function (box) {
      var mode = box.getAttribute("inputmode") || "text";
      box.setAttribute("inputmode", "none");
      var open = function () {
        if (box.getAttribute("inputmode") === mode) { return; }
        box.setAttribute("inputmode", mode);
        if (document.activeElement === box) { box.blur(); box.focus(); }
      };
      box.addEventListener("pointerdown", open);
      box.addEventListener("touchstart", open, { passive: true });
    });
  }

  /* --- live status: the batch card and the zone board follow the server --------------- */
  function setupLive() {
    var el = $("[data-live-url]");
    if (!el || !window.fetch) { return; }
    var url = el.getAttribute("data-live-url");
    var href = el.getAttribute("data-live-href") || location.href;
    var every = parseInt(el.getAttribute("data-live-interval") || "5000", 10);
    var stamp = null, note = null, left = false;
    // Once the person follows a link or sends a form, their navigation wins: a change seen from
    // then on is said with the button, never by a reload, which would replace the page they
    // asked for (a slow one still on its way, too) with this one.
    function leave() { left = true; }
    document.addEventListener("click", function (event) {
      var link = event.target.closest ? event.target.closest("a[href]") : null;
      if (!link || event.defaultPrevented || link.getAttribute("href").charAt(0) === "#") { return; }
      if (link.hasAttribute("download") || (link.target && link.target !== "_self")) { return; }
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) { return; }  // a new tab
      leave();
    });
    document.addEventListener("submit", function (event) { if (!event.defaultPrevented) { leave(); } });
    window.addEventListener("beforeunload", leave);
    window.addEventListener("pageshow", function () { left = false; });
    function busy() {
      return $all("main input[type=text], main input[type=number], main input[type=tel], main textarea").some(function (f) {
        return f.value && f.value.trim() && !f.hasAttribute("data-scan-box");
      });
    }
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          if (stamp === null) { stamp = data.stamp; return; }
          if (data.stamp === stamp) { return; }
          if (!busy() && !left) { location.replace(href); return; }
          if (!note) {  // someone is typing: say so instead of throwing their input away
            note = document.createElement("p");
            note.className = "message message-info live-note";
            note.setAttribute("role", "status");
            var link = document.createElement("a");
            link.href = href;
            link.className = "btn btn-small";
            link.textContent = el.getAttribute("data-live-reload-text") || "Reload";
            note.textContent = (el.getAttribute("data-live-changed-text") || "This changed.") + " ";
            note.appendChild(link);
            el.parentNode.insertBefore(note, el);
          }
        })
        .catch(function () { /* offline: try again later */ });
    }
    poll();
    setInterval(poll, every);
    document.addEventListener("countdown-done", function () { setTimeout(poll, 1500); });
  }

  /* --- offline: scans queued on the device (IndexedDB) and sent when the network is back.
     Each queued request carries its own Idempotency-Key, so a retry after a lost answer is
     done once by the server (docs/web.md). */
  var queueDb = null;
  function openQueue() {
    if (queueDb) { return queueDb; }
    queueDb = new Promise(function (resolve, reject) {
      if (!window.indexedDB) { reject(new Error("no IndexedDB")); return; }
      var req = indexedDB.open("warehouse-field", 1);
      req.onupgradeneeded = function () { req.result.createObjectStore("outbox", { keyPath: "key" }); };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
    return queueDb;
  }
  function queueTx(mode, work) {
    return openQueue().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction("outbox", mode), store = tx.objectStore("outbox"), result;
        var req = work(store);
        if (req) { req.onsuccess = function () { result = req.result; }; }
        tx.oncomplete = function () { resolve(result); };
        tx.onerror = function () { reject(tx.error); };
      });
    });
  }
  function newKey() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var b = new Uint8Array(16); crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  }
  var sentCount = 0, flushing = false;
  function showQueue() {
    var note = $("[data-offline-note]");
    if (!note) { return Promise.resolve(); }
    return queueTx("readonly", function (store) { return store.getAll(); }).then(function (items) {
      var mine = (items || []).filter(function (i) { return i.user === document.body.getAttribute("data-user"); });
      var parts = [];
      if (!navigator.onLine) { parts.push(note.getAttribute("data-offline-text")); }
      if (mine.length) { parts.push(fill(note.getAttribute("data-waiting-text"), { n: mine.length })); }
      if (sentCount && !mine.length) { parts.push(fill(note.getAttribute("data-sent-text"), { n: sentCount })); }
      note.hidden = !parts.length;
      note.classList.toggle("offline-waiting", mine.length > 0 || !navigator.onLine);
      $all("[data-queue-count]").forEach(function (c) { c.textContent = String(mine.length); });
      note.textContent = parts.join(" ");
      note.setAttribute("data-waiting", String(mine.length));
    }).catch(function () { note.hidden = navigator.onLine; });
  }
  function csrfToken() {
    var field = $("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }
  function flushQueue() {
    if (flushing || !navigator.onLine || !window.fetch) { return; }
    flushing = true;
    queueTx("readonly", function (store) { return store.getAll(); }).then(function (items) {
      var mine = (items || []).filter(function (i) { return i.user === document.body.getAttribute("data-user"); });
      return mine.reduce(function (chain, item) {
        return chain.then(function () {
          return fetch(item.url, {
            method: "POST", credentials: "same-origin",
            headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken(), "Idempotency-Key": item.key },
            body: JSON.stringify(item.body)
          }).then(function (response) {
            if (response.status === 401 || response.status === 403 && !response.headers.get("Idempotent-Replayed")) {
              return null;  // signed out or a stale token: keep it for after the next sign-in
            }
            if (response.status >= 500) { return null; }
            return response.json().catch(function () { return {}; }).then(function (answer) {
              if (response.ok) { sentCount += 1; }
              else { remember(item, answer); }
              return queueTx("readwrite", function (store) { return store.delete(item.key); });
            });
          });
        });
      }, Promise.resolve());
    }).catch(function () { /* still offline */ }).then(function () { flushing = false; showQueue(); });
  }
  function remember(item, answer) {
    // A queued scan the server refused: shown on the page it came from.
    try {
      var list = JSON.parse(localStorage.getItem("queue-refused") || "[]");
      list.push({ label: item.label, detail: answer.detail || JSON.stringify(answer).slice(0, 300), at: Date.now(), user: item.user });
      localStorage.setItem("queue-refused", JSON.stringify(list.slice(-20)));
    } catch (e) { /* ignore */ }
    showRefused();
  }
  function showRefused() {
    var holder = $("[data-queue-refused]");
    if (!holder) { return; }
    var list = [];
    try { list = JSON.parse(localStorage.getItem("queue-refused") || "[]"); } catch (e) { list = []; }
    list = list.filter(function (i) { return i.user === document.body.getAttribute("data-user"); });
    holder.hidden = !list.length;
    var ul = $("ul", holder);
    if (!ul) { return; }
    ul.innerHTML = "";
    list.forEach(function (i) { var li = document.createElement("li"); li.textContent = i.label + ": " + i.detail; ul.appendChild(li); });
  }
  function setupOffline() {
    $all("form[data-offline-api]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (navigator.onLine || !window.indexedDB) { return; }
        event.preventDefault();
        var data = new FormData(form), body = {};
        data.forEach(function (value, name) { if (name !== "csrfmiddlewaretoken") { body[name] = value; } });
        body.codes = String(body.codes || "").split(/\r?\n/).map(function (v) { return v.trim(); }).filter(Boolean);
        if (!body.codes.length) { return; }
        var item = { key: newKey(), url: form.getAttribute("data-offline-api"), body: body, created: Date.now(),
          user: document.body.getAttribute("data-user"),
          label: fill(form.getAttribute("data-queue-label") || "{n}", { n: body.codes.length }) };
        queueTx("readwrite", function (store) { return store.put(item); }).then(function () {
          try { sessionStorage.removeItem("draft-sent"); sessionStorage.removeItem(draftKey(form)); } catch (e) { /* ignore */ }
          if (form.scanReset) { form.scanReset(); }
          $all("input[type=text], input[type=tel]", form).forEach(function (f) { if (!f.hasAttribute("data-scan-input")) { f.value = ""; } });
          var feedback = $("[data-scan-feedback]", form);
          if (feedback) { feedback.textContent = form.getAttribute("data-queued-text") || ""; }
          var button = event.submitter;
          if (button) { setTimeout(function () { button.disabled = false; }, 10); }
          showQueue();
        });
      });
    });
    window.addEventListener("online", function () { showQueue(); flushQueue(); });
    window.addEventListener("offline", showQueue);
    showQueue();
    showRefused();
    flushQueue();
    setInterval(flushQueue, 15000);
  }

  /* --- camera scanning: BarcodeDetector where the browser has it, else jsQR (vendored) --- */
  function setupCamera() {
    $all("[data-camera]").forEach(function (button) {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { return; }
      button.hidden = false;
      var form = button.closest("form");
      var panel = $("[data-camera-panel]", form);
      var video = $("video", panel);
      var status = $("[data-camera-status]", panel);
      var stream = null, timer = null, detector = null, canvas = document.createElement("canvas");
      var last = "", lastAt = 0;
      function stop() {
        if (timer) { clearTimeout(timer); timer = null; }
        if (stream) { stream.getTracks().forEach(function (tr) { tr.stop(); }); stream = null; }
        panel.hidden = true;
        button.setAttribute("aria-expanded", "false");
      }
      function found(text) {
        var now = Date.now();
        if (text === last && now - lastAt < 2500) { return; }  // the same label still in view
        last = text; lastAt = now;
        if (form.scanAdd) { form.scanAdd(text); }
        else { var box = $("[data-scan-box]", form); if (box) { box.value = text; form.submit(); } }
      }
      function frame() {
        if (!stream) { return; }
        var next = function () { timer = setTimeout(frame, 200); };
        if (video.readyState < 2) { next(); return; }
        if (detector) {
          detector.detect(video).then(function (codes) { if (codes.length) { found(codes[0].rawValue); } }).catch(function () {}).then(next);
          return;
        }
        if (window.jsQR) {
          canvas.width = video.videoWidth; canvas.height = video.videoHeight;
          var ctx = canvas.getContext("2d", { willReadFrequently: true });
          ctx.drawImage(video, 0, 0);
          var img = ctx.getImageData(0, 0, canvas.width, canvas.height);
          var code = window.jsQR(img.data, img.width, img.height, { inversionAttempts: "dontInvert" });
          if (code && code.data) { found(code.data); }
        }
        next();
      }
      function useDetector() {
        if (!("BarcodeDetector" in window) || form.hasAttribute("data-camera-force-jsqr")) { return Promise.resolve(null); }
        return window.BarcodeDetector.getSupportedFormats().then(function (formats) {
          return formats.indexOf("qr_code") >= 0 ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;
        }).catch(function () { return null; });
      }
      function loadJsQR() {
        if (window.jsQR) { return Promise.resolve(); }
        return new Promise(function (resolve, reject) {
          var script = document.createElement("script");
          script.src = button.getAttribute("data-jsqr-src");
          script.onload = resolve; script.onerror = reject;
          document.head.appendChild(script);
        });
      }
      button.addEventListener("click", function () {
        if (stream) { stop(); return; }
        panel.hidden = false;
        button.setAttribute("aria-expanded", "true");
        if (status) { status.textContent = button.getAttribute("data-starting-text") || ""; }
        useDetector().then(function (d) {
          detector = d;
          form.setAttribute("data-camera-decoder", d ? "BarcodeDetector" : "jsQR");
          return d ? null : loadJsQR();
        }).then(function () {
          return navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
        }).then(function (s) {
          stream = s;
          video.srcObject = s;
          video.setAttribute("playsinline", "");
          video.muted = true;
          return video.play();
        }).then(function () {
          if (status) { status.textContent = button.getAttribute("data-running-text") || ""; }
          frame();
        }).catch(function () {
          if (status) { status.textContent = button.getAttribute("data-denied-text") || ""; }
          if (stream) { stop(); panel.hidden = false; }
        });
      });
      var close = $("[data-camera-close]", panel);
      if (close) { close.addEventListener("click", stop); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
    setupDrafts();
    $all("form[data-scan-list]").forEach(setupScanList);
    $all("form[data-declare-form]").forEach(setupLines);
    setupForms();
    setupDownloads();
    setupQuietKeyboard();
    keepScanFocus();
    setupLive();
    setupOffline();
    setupCamera();
  });
})();
