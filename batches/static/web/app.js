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
  function shortValue(value) {
    var key = scanKey(value);
    if (key !== value.trim()) { return key.indexOf("DL:") === 0 ? key.split(":").pop() : key; }  // a label's URL: its serial or token
    return value.length > 40 ? value.slice(0, 20) + "…" + value.slice(-12) : value;
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
        raw.textContent = shortValue(value);  // one short line; the whole value on hover
        raw.title = value;
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
        if (feedback) { feedback.classList.remove("is-queued"); feedback.textContent = t("duplicate", "Already scanned") + t("colon", ": ") + (seen.item ? fill(t("item", "Item {n}"), { n: seen.item }) + (seen.product ? " · " + seen.product : "") : value); }
        signal(false);
        form.setAttribute("data-last-signal", "duplicate");
        return;
      }
      if (feedback) { feedback.textContent = ""; feedback.classList.remove("is-queued"); }
      list.push(value);
      setValues(list);
      check(value, true);
    }
    form.scanAdd = function (value) {  // the camera (below) scans into the same list, and shows the row
      add(value);
      var last = rows.lastElementChild;
      if (last && last.scrollIntoView) { last.scrollIntoView({ block: "nearest" }); }
    };
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
    document.addEventListener("field-write-sent", leave);  // a form sent by the device queue
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

  /* --- field writes: the device queue (docs/web.md). Every form marked data-queue is sent by
     fetch with its key (made when the form was shown) as Idempotency-Key, after it was stored
     in IndexedDB; a request that fails or times out stays there and is sent again with the
     same key (backoff), so the server does it once and answers a retry with the first result.
     The queue belongs to the signed-in person: only their own writes are ever sent. --- */
  var queueDb = null, flushing = false, inFlight = {};  // keys sent by the page itself right now
  var BACKOFF = [3, 6, 12, 30, 60, 120, 300];  // seconds after the 1st, 2nd, ... failure
  function me() { return document.body.getAttribute("data-user") || ""; }
  function queueNote() { return $("[data-offline-note]"); }
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
        tx.onabort = function () { reject(tx.error); };
      });
    });
  }
  function putEntry(entry) { return queueTx("readwrite", function (store) { return store.put(entry); }); }
  function dropEntry(key) { return queueTx("readwrite", function (store) { return store.delete(key); }); }
  function myEntries() {
    return queueTx("readonly", function (store) { return store.getAll(); }).then(function (items) {
      return (items || []).filter(function (i) { return i.user && i.user === me(); })
        .sort(function (a, b) { return a.created - b.created; });
    });
  }
  function newKey() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var b = new Uint8Array(16); crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  }
  function ttlMs() { var note = queueNote(); return 1000 * parseInt((note && note.getAttribute("data-ttl")) || "82800", 10); }
  function timeoutMs() { var note = queueNote(); return parseInt((note && note.getAttribute("data-timeout")) || "20000", 10); }
  function csrfToken() {
    var field = $("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }
  function clock(ms) { var d = new Date(ms); return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2); }

  /* One attempt: {type: done | refused | transient | not_yours, data, why}. */
  function send(entry, mode) {
    var controller = window.AbortController ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, timeoutMs()) : null;
    var headers = { Accept: "application/json", "Idempotency-Key": entry.key, "X-CSRFToken": csrfToken(),
      "X-Field-Queue": mode, "X-Field-User": entry.user };
    var body;
    if (entry.fields) {
      body = new FormData();
      entry.fields.forEach(function (f) { body.append(f[0], f[1]); });
    } else {  // queued by the earlier version: JSON to the API
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(entry.body);
    }
    return fetch(entry.url, { method: "POST", credentials: "same-origin", headers: headers, body: body, signal: controller ? controller.signal : undefined })
      .then(function (response) {
        var json = (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
        var signIn = response.status === 401 || response.status === 403 || (response.redirected && /\/accounts\/login\//.test(response.url));
        if (!json) { return { type: "transient", why: signIn ? "signin" : "server", status: response.status }; }
        return response.json().then(function (data) {
          if (!entry.fields) {  // the API's answer
            if (response.ok) { return { type: "done", data: { message: "", next: "" } }; }
            if (signIn && !response.headers.get("Idempotent-Replayed")) { return { type: "transient", why: "signin", status: response.status }; }
            if (response.status >= 500) { return { type: "transient", why: "server", status: response.status }; }
            return { type: "refused", data: { message: data.detail || JSON.stringify(data).slice(0, 300), errors: [] } };
          }
          if (data.outcome === "done") { return { type: "done", data: data }; }
          if (data.outcome === "refused") { return { type: "refused", data: data, status: response.status }; }
          if (data.outcome === "not_yours") { return { type: "not_yours" }; }
          return { type: "transient", why: "server", status: response.status };
        });
      })
      .catch(function () { return { type: "transient", why: "network" }; })
      .then(function (outcome) { if (timer) { clearTimeout(timer); } return outcome; });
  }
  function failed(entry, outcome) {
    entry.attempts = (entry.attempts || 0) + 1;
    entry.nextAt = Date.now() + 1000 * BACKOFF[Math.min(entry.attempts, BACKOFF.length) - 1];
    entry.lastError = outcome.why || "network";
    return putEntry(entry);
  }

  /* What came of the queued writes, kept for their person until dismissed. */
  function results() {
    try { return JSON.parse(localStorage.getItem("queue-results") || "[]"); } catch (e) { return []; }
  }
  function keepResults(list) { try { localStorage.setItem("queue-results", JSON.stringify(list.slice(-30))); } catch (e) { /* ignore */ } }
  function addResult(kind, entry, data) {
    var list = results();
    list.push({ id: entry.key, user: entry.user, kind: kind, label: entry.label, at: Date.now(), created: entry.created,
      message: (data && data.message) || "", errors: (data && data.errors) || [] });
    keepResults(list);
    showResults();
  }
  function showResults() {
    var holder = $("[data-queue-results]");
    if (!holder) { return; }
    var mine = results().filter(function (r) { return r.user === me(); });
    var ul = $("ul", holder);
    ul.innerHTML = "";
    mine.forEach(function (r) {
      var li = document.createElement("li");
      li.className = "queue-result message message-" + ({ done: "success", refused: "error", expired: "warning" }[r.kind] || "info");
      li.setAttribute("data-result", r.kind);
      var text = document.createElement("div");
      if (r.kind === "refused") { text.setAttribute("role", "alert"); }
      var head = document.createElement("strong");
      head.textContent = holder.getAttribute("data-" + r.kind + "-text") + holder.getAttribute("data-colon") + r.label;
      text.appendChild(head);
      var say = r.kind === "expired" ? holder.getAttribute("data-expired-help") : r.message;
      [say].concat(r.errors || []).filter(Boolean).forEach(function (line) {
        var p = document.createElement("span");
        p.className = "queue-result-line";
        p.textContent = line;
        text.appendChild(p);
      });
      li.appendChild(text);
      var dismiss = document.createElement("button");
      dismiss.type = "button";
      dismiss.className = "btn btn-small btn-quiet";
      dismiss.textContent = holder.getAttribute("data-dismiss-text");
      dismiss.addEventListener("click", function () {
        keepResults(results().filter(function (x) { return !(x.id === r.id && x.user === r.user); }));
        showResults();
      });
      li.appendChild(dismiss);
      ul.appendChild(li);
    });
    holder.hidden = !mine.length;
  }

  /* The count in items ("3 items waiting"), what waits, and a button to send now. */
  function showQueue() {
    var note = queueNote();
    if (!note) { return Promise.resolve(); }
    return myEntries().then(function (mine) {
      var items = mine.reduce(function (n, e) { return n + (e.items || 1); }, 0);
      var lines = [];
      if (!navigator.onLine) { lines.push(note.getAttribute("data-offline-text")); }
      if (mine.length) { lines.push(fill(note.getAttribute("data-waiting-text"), { n: items })); }
      if (mine.some(function (e) { return e.lastError === "signin"; })) { lines.push(note.getAttribute("data-signin-text")); }
      $("[data-queue-summary]", note).textContent = lines.join(" ");
      var list = $("[data-queue-list]", note);
      list.innerHTML = "";
      mine.forEach(function (e) {
        var li = document.createElement("li");
        li.textContent = e.label + (e.nextAt && e.nextAt > Date.now() ? " · " + fill(note.getAttribute("data-next-text"), { time: clock(e.nextAt) }) : "");
        list.appendChild(li);
      });
      $("[data-queue-retry]", note).hidden = !mine.length || !navigator.onLine;
      note.hidden = !mine.length && navigator.onLine;
      note.setAttribute("data-waiting", String(mine.length));
      note.setAttribute("data-items", String(items));
      markQueuedForms(mine);
    }).catch(function () { note.hidden = navigator.onLine; });
  }

  /* A write waits longer than the server keeps its key: dropped, with a notice. */
  function expire() {
    if (!me() || !window.indexedDB) { return Promise.resolve(); }
    return myEntries().then(function (mine) {
      var old = mine.filter(function (e) { return Date.now() - e.created > ttlMs(); });
      return Promise.all(old.map(function (e) { addResult("expired", e, null); return dropEntry(e.key); }));
    }).catch(function () { /* no IndexedDB */ });
  }
  function flush(force) {
    if (flushing || !me() || !navigator.onLine || !window.fetch || !window.indexedDB) { return Promise.resolve(); }
    flushing = true;
    return expire().then(myEntries).then(function (mine) {
      return mine.reduce(function (chain, entry) {
        return chain.then(function (go) {
          if (!go || inFlight[entry.key] || (!force && entry.nextAt && entry.nextAt > Date.now())) { return go; }
          return send(entry, "later").then(function (outcome) {
            if (outcome.type === "done") { addResult("done", entry, outcome.data); return dropEntry(entry.key).then(function () { return true; }); }
            if (outcome.type === "refused") { addResult("refused", entry, outcome.data); return dropEntry(entry.key).then(function () { return true; }); }
            if (outcome.type === "not_yours") { return true; }
            return failed(entry, outcome).then(function () { return false; });  // a weak network: stop here, try later
          });
        });
      }, Promise.resolve(true));
    }).catch(function () { /* IndexedDB gone */ }).then(function () { flushing = false; return showQueue(); });
  }

  /* The batch card's record forms with a write waiting: not offered twice. */
  function markQueuedForms(mine) {
    $all("form[data-queue]").forEach(function (form) {
      var waiting = mine.some(function (e) { return e.url === form.action; });
      if (form.hasAttribute("data-scan-list")) {  // the list is free; only its "kept" notice goes once sent
        var said = $("[data-scan-feedback].is-queued", form);
        if (said && !waiting) { said.textContent = ""; said.classList.remove("is-queued"); }
        return;
      }
      var button = $("button[type=submit]", form);
      var note = $(".queue-form-note", form);
      if (waiting && !note) {
        note = document.createElement("p");
        note.className = "queue-form-note small";
        note.textContent = queueNote().getAttribute("data-kept-text") || "";
        form.appendChild(note);
      }
      if (!waiting && note) { note.remove(); }
      if (button) { button.disabled = waiting; }
      form.toggleAttribute("data-queued", waiting);
    });
  }
  function formFields(form, submitter) {
    var data;
    try { data = new FormData(form, submitter || undefined); } catch (e) { data = new FormData(form); }
    var fields = [];
    data.forEach(function (value, name) { if (name !== "csrfmiddlewaretoken") { fields.push([name, value]); } });
    return fields;
  }
  function nativeSubmit(form) { HTMLFormElement.prototype.submit.call(form); }
  function setupQueue() {
    var ready = window.fetch && window.indexedDB && window.Promise && me() && queueNote();
    $all("form[data-queue]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (event.defaultPrevented || !ready) { return; }  // not confirmed, or no queue here: the plain form
        var scanList = form.hasAttribute("data-scan-list");
        var fields = formFields(form, event.submitter);
        var codes = 0;
        fields.forEach(function (f) { if (f[0] === "codes") { codes = String(f[1]).split(/\r?\n/).filter(function (v) { return v.trim(); }).length; } });
        if (scanList && !codes) { return; }  // nothing scanned: the page says so
        event.preventDefault();
        document.dispatchEvent(new CustomEvent("field-write-sent"));
        var keyInput = $("[data-write-key]", form);
        var items = scanList ? codes : parseInt(form.getAttribute("data-queue-items") || "1", 10) || 1;
        var entry = { key: (keyInput && keyInput.value) || newKey(), user: me(), url: form.action, fields: fields,
          label: fill(form.getAttribute("data-queue-label") || "{n}", { n: items }), items: items,
          created: Date.now(), attempts: 0, nextAt: Date.now() + timeoutMs() + 1000 };  // the background waits for this attempt
        inFlight[entry.key] = true;
        var feedback = $("[data-scan-feedback]", form);
        putEntry(entry).then(function () {
          return navigator.onLine ? send(entry, "now") : { type: "transient", why: "network" };
        }, function () { nativeSubmit(form); return null; }).then(function (outcome) {
          delete inFlight[entry.key];
          if (!outcome) { return; }
          if (outcome.type === "done") {
            dropEntry(entry.key).then(function () { location.assign(outcome.data.next || location.href); });
            return;
          }
          if (outcome.type === "transient" && (outcome.why === "network" || outcome.status >= 500)) {
            // No answer: kept here and sent again with the same key; the form is free for the next one.
            failed(entry, outcome).then(function () {
              if (scanList) {
                $all("input[type=text], input[type=tel]", form).forEach(function (f) { if (!f.hasAttribute("data-scan-input")) { f.value = ""; } });
                if (form.scanReset) { form.scanReset(); }
                // Last: clearing the list saves a draft; the write on the device is the only copy now.
                try { sessionStorage.removeItem("draft-sent"); sessionStorage.removeItem(draftKey(form)); } catch (e) { /* ignore */ }
                if (keyInput) { keyInput.value = newKey(); }  // a new form: a new key
                if (feedback) { feedback.textContent = form.getAttribute(navigator.onLine ? "data-queued-text" : "data-queued-offline-text") || ""; feedback.classList.add("is-queued"); }
                var button = event.submitter;
                if (button) { setTimeout(function () { button.disabled = false; }, 10); }
              }
              showQueue();
            });
            return;
          }
          // An answer that is not "done" (refused, signed out, a stale form): the page says it, as without the script.
          dropEntry(entry.key).then(function () { nativeSubmit(form); }, function () { nativeSubmit(form); });
        });
      });
    });
    if (!ready) { return; }
    var retry = $("[data-queue-retry]");
    if (retry) { retry.addEventListener("click", function () { flush(true); }); }
    window.addEventListener("online", function () { showQueue(); flush(true); });
    window.addEventListener("offline", showQueue);
    showQueue();
    showResults();
    flush(false);
    setInterval(function () { expire().then(function () { return flush(false); }); }, 2000);
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
    setupQueue();
    setupCamera();
  });
})();
