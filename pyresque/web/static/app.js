// pyresque web: live updates (Server-Sent Events, polling as fallback), the throughput
// chart, bulk selection, confirmations. Loaded with the page's CSP nonce; no inline code.
(function () {
  "use strict";
  var body = document.body;
  var base = body.dataset.base || "";
  var page = body.dataset.page || "overview";
  var KEY = "pyresque.interval";
  var select = document.getElementById("interval");
  var status = document.getElementById("live-status");
  var source = null, timer = null, baseline = null, last = null, failures = 0;
  var series = { processed: [], failed: [] }, MAX_POINTS = 90;

  function fmt(n) { return typeof n === "number" ? n.toLocaleString("en-US") : String(n); }
  function setStatus(kind, text) { if (status) { status.className = kind; status.title = text; } }

  function query() {
    var q = "page=" + encodeURIComponent(page);
    if (body.dataset.name) q += "&name=" + encodeURIComponent(body.dataset.name);
    if (body.dataset.ts) q += "&ts=" + encodeURIComponent(body.dataset.ts);
    return q;
  }

  function apply(data) {
    document.querySelectorAll("[data-live]").forEach(function (el) {
      var name = el.getAttribute("data-live");
      if (Object.prototype.hasOwnProperty.call(data, name)) {
        var v = data[name];
        el.textContent = (name === "failed_entries" && el.classList.contains("badge") && !v) ? "" : fmt(v);
      }
    });
    chart(data);
    if (baseline === null) { baseline = data.fingerprint; return; }
    if (data.fingerprint !== baseline) { baseline = data.fingerprint; refresh(); }
  }

  // Re-read this page and swap #live-region, keeping scroll, ticked boxes and open details.
  function refresh() {
    var region = document.getElementById("live-region");
    if (!region) return;
    var checked = {}, open = {};
    region.querySelectorAll("input[type=checkbox][name]:checked").forEach(function (el) { checked[el.value] = true; });
    region.querySelectorAll("details[open][data-key]").forEach(function (el) { open[el.getAttribute("data-key")] = true; });
    var x = window.scrollX, y = window.scrollY;
    fetch(location.href, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("live-region");
        if (!fresh) return;
        region.replaceChildren.apply(region, Array.prototype.slice.call(fresh.childNodes).map(function (n) { return document.adoptNode(n); }));
        region.querySelectorAll("input[type=checkbox][name]").forEach(function (el) { if (checked[el.value]) el.checked = true; });
        region.querySelectorAll("details[data-key]").forEach(function (el) { if (open[el.getAttribute("data-key")]) el.open = true; });
        bindBulk();
        window.scrollTo(x, y);
        body.setAttribute("data-refreshed", String(Date.now()));
      })
      .catch(function () {});
  }

  function chart(data) {
    var canvas = document.getElementById("throughput");
    if (!canvas) return;
    if (last && data.time > last.time) {
      var dt = data.time - last.time;
      series.processed.push(Math.max(0, (data.processed - last.processed) / dt));
      series.failed.push(Math.max(0, (data.failed - last.failed) / dt));
      if (series.processed.length > MAX_POINTS) { series.processed.shift(); series.failed.shift(); }
      var rate = document.getElementById("rate");
      if (rate) rate.textContent = "now " + series.processed[series.processed.length - 1].toFixed(1) + " processed/s, " + series.failed[series.failed.length - 1].toFixed(1) + " failed/s";
    }
    last = data;
    var ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height, pad = 28;
    ctx.clearRect(0, 0, w, h);
    var top = Math.max(1, Math.max.apply(null, series.processed.concat(series.failed, [0])));
    ctx.strokeStyle = "#e5e7eb"; ctx.fillStyle = "#6b7280"; ctx.font = "11px sans-serif"; ctx.lineWidth = 1;
    for (var i = 0; i <= 4; i++) {
      var gy = pad / 2 + (h - pad) * i / 4;
      ctx.beginPath(); ctx.moveTo(pad, gy); ctx.lineTo(w, gy); ctx.stroke();
      ctx.fillText((top * (4 - i) / 4).toFixed(top < 10 ? 1 : 0), 2, gy + 4);
    }
    [["processed", "#2e7d32"], ["failed", "#c62828"]].forEach(function (pair) {
      var pts = series[pair[0]];
      if (pts.length < 2) return;
      ctx.strokeStyle = pair[1]; ctx.lineWidth = 2; ctx.beginPath();
      pts.forEach(function (v, j) {
        var px = pad + (w - pad) * (j + MAX_POINTS - pts.length) / (MAX_POINTS - 1);
        var py = pad / 2 + (h - pad) * (1 - v / top);
        if (j === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
      });
      ctx.stroke();
    });
  }

  function stop() {
    if (source) { source.close(); source = null; }
    if (timer) { clearTimeout(timer); timer = null; }
  }

  function poll(seconds) {
    fetch(base + "/api/poll?" + query(), { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) { setStatus("poll", "live (polling)"); apply(data); })
      .catch(function () { setStatus("off", "live updates failing"); })
      .then(function () { timer = setTimeout(function () { poll(seconds); }, seconds * 1000); });
  }

  function start() {
    stop();
    var seconds = parseInt(select ? select.value : "2", 10);
    if (!seconds) { setStatus("off", "live updates off"); return; }
    if (!window.EventSource || failures >= 3) { poll(seconds); return; }
    source = new EventSource(base + "/api/live?" + query() + "&interval=" + seconds);
    source.addEventListener("tick", function (e) { failures = 0; setStatus("on", "live"); apply(JSON.parse(e.data)); });
    source.onerror = function () {
      failures += 1;
      if (failures >= 3) { stop(); poll(seconds); }
    };
  }

  function bindBulk() {
    var all = document.getElementById("select-all");
    var count = document.getElementById("selected-count");
    var boxes = document.querySelectorAll("#bulk input[name=ref]");
    function update() {
      var n = 0;
      boxes.forEach(function (b) { if (b.checked) n++; var tb = b.closest("tbody"); if (tb) tb.classList.toggle("selected", b.checked); });
      if (count) count.textContent = n + " selected";
      if (all) all.checked = n > 0 && n === boxes.length;
    }
    boxes.forEach(function (b) { b.addEventListener("change", update); });
    if (all) all.onchange = function () { boxes.forEach(function (b) { b.checked = all.checked; }); update(); };
    update();
  }

  document.addEventListener("submit", function (e) {
    var form = e.target;
    var text = form.getAttribute("data-confirm");
    if (text && !window.confirm(text)) e.preventDefault();
  });

  if (select) {
    var saved = localStorage.getItem(KEY);
    if (saved !== null) select.value = saved;
    select.addEventListener("change", function () { localStorage.setItem(KEY, select.value); start(); });
  }
  bindBulk();
  start();
}());
