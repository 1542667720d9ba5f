// thioquant review: plain JavaScript, no library, no CDN. The server holds the state; every view is
// drawn from GET /api/state, and every edit answers with the new state, drawn at once.
"use strict";
(function () {
  const params = new URLSearchParams(location.search);
  const TOKEN = params.get("token") || sessionStorage.getItem("tq-token") || "";
  if (TOKEN) sessionStorage.setItem("tq-token", TOKEN);
  let userKey = sessionStorage.getItem("tq-user-key") || "";
  let userName = sessionStorage.getItem("tq-user-name") || "";
  let S = null;            // the last state document
  const injCache = {};     // sample_id -> injection document (traces)
  const zoom = {};         // analyte -> [t0, t1] of an injection view
  const $ = (sel, root) => (root || document).querySelector(sel);
  const SVGNS = "http://www.w3.org/2000/svg";

  // ------------------------------------------------------------------ helpers
  function esc(v) {
    return String(v === null || v === undefined ? "" : v).replace(/[&<>"']/g,
      (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }
  function fmt(v, d) {
    if (v === null || v === undefined || v === "") return "";
    if (typeof v !== "number") return esc(v);
    if (!isFinite(v)) return "";
    const a = Math.abs(v);
    if (d !== undefined) return v.toFixed(d);
    if (a !== 0 && (a >= 1e5 || a < 1e-2)) return v.toExponential(3);
    const t = v.toPrecision(5);
    return t.includes(".") && !t.includes("e") ? t.replace(/\.?0+$/, "") : t;
  }
  function flags(list) {
    return (list || []).map((f) => `<span class="flag ${esc(f)}">${esc(f)}</span>`).join("");
  }
  function banner(text, error) {
    const b = $("#banner");
    if (!text) { b.hidden = true; return; }
    b.textContent = text; b.hidden = false; b.className = "banner" + (error ? " error" : "");
  }
  async function api(path, body) {
    const opts = { headers: { "X-Review-Token": TOKEN } };
    if (body !== undefined) {
      opts.method = "POST";
      opts.headers["Content-Type"] = "application/json";
      if (userKey) opts.headers["X-Review-User"] = userKey;
      opts.body = JSON.stringify(body);
    }
    const r = await fetch(path, opts);
    let doc = null;
    try { doc = await r.json(); } catch (e) { doc = { error: r.statusText }; }
    if (r.status === 409) {
      banner("Another tab or user changed this batch: the page was reloaded with their change. " +
             "Redo your change if it is still needed.", true);
      await load();
      throw new Error("stale");
    }
    if (!r.ok) throw new Error(doc.error || r.statusText);
    return doc;
  }
  async function post(path, body) {
    banner("");
    body.rev = S.review.rev;
    try {
      const doc = await api(path, body);
      S = doc.state;
      Object.keys(injCache).forEach((k) => delete injCache[k]);
      render();
      return doc;
    } catch (e) {
      if (e.message !== "stale") banner(e.message, true);
      return null;
    }
  }
  async function load() {
    S = await api("/api/state");
    Object.keys(injCache).forEach((k) => delete injCache[k]);
    render();
  }

  // ------------------------------------------------------------------ sign-in
  function showUser() {
    const f = $("#login-form"), w = $("#who-name");
    if (userKey) {
      f.hidden = true; w.hidden = false;
      w.innerHTML = `signed in: <b>${esc(userName)}</b> <button id="logout">sign out</button>`;
      $("#logout").addEventListener("click", () => {
        userKey = ""; userName = ""; sessionStorage.removeItem("tq-user-key");
        sessionStorage.removeItem("tq-user-name"); showUser();
      });
    } else { f.hidden = false; w.hidden = true; }
  }
  $("#login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const d = await api("/api/login", { user: $("#login-user").value, password: $("#login-password").value });
      userKey = d.key; userName = d.user;
      sessionStorage.setItem("tq-user-key", userKey); sessionStorage.setItem("tq-user-name", userName);
      $("#login-password").value = ""; banner(""); showUser();
    } catch (e) { banner(e.message, true); }
  });

  // ------------------------------------------------------------------ routing
  function route() {
    const h = location.hash.replace(/^#\/?/, "");
    const parts = h.split("/").map(decodeURIComponent);
    return { view: parts[0] || "run", arg: parts.slice(1).join("/") };
  }
  window.addEventListener("hashchange", render);

  function render() {
    if (!S) return;
    const r = route();
    document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.view === r.view));
    const v = S.verdict || {};
    const bar = $("#verdict-bar");
    bar.className = "verdict-bar " + (v.accepted ? "ok" : "bad");
    const sigs = S.review.signatures.map((s) => `${s.meaning} by ${s.user}`).join(", ");
    bar.textContent = `Run ${v.accepted ? "ACCEPTED" : "REJECTED"}` + (v.deciding_rule ? ` (deciding rule: ${v.deciding_rule})` : "") +
      ` · revision ${S.review.rev} · ${S.review.manual.length} manual integration(s), ${S.review.exclusions.length} calibrator exclusion(s)` +
      ((S.review.inclusions || []).length ? `, ${S.review.inclusions.length} held calibrator(s) included` : "") +
      (S.review.pseudonymised ? " · pseudonymised" : "") +
      (sigs ? ` · signed: ${sigs}` : " · not signed") +
      (S.review.versions.length ? ` · last signed version ${S.review.versions[S.review.versions.length - 1].version}` : "");
    const fn = { run: viewRun, calibration: viewCalibration, qc: viewQC, patients: viewPatients,
                 injections: viewInjections, injection: viewInjection, signoff: viewSignoff }[r.view] || viewRun;
    fn(r.arg);
  }

  function resultTable(rows, cols) {
    const head = cols.map((c) => `<th>${esc(c[1])}</th>`).join("");
    const body = rows.map((r) => {
      const held = (r.flags || []).includes("HELD");
      return `<tr class="${held ? "held" : ""}" data-sample="${esc(r.sample_id)}" data-analyte="${esc(r.analyte)}">` +
        cols.map((c) => {
          const v = r[c[0]];
          if (c[0] === "flags") return `<td>${flags(v)}</td>`;
          if (c[0] === "sample_id") return `<td><a href="#/injection/${encodeURIComponent(r.sample_id)}">${esc(v)}</a></td>`;
          return typeof v === "number" ? `<td class="num">${fmt(v)}</td>` : `<td>${esc(v)}</td>`;
        }).join("") + "</tr>";
    }).join("");
    return `<table class="results"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
  }

  // ------------------------------------------------------------------ run
  function viewRun() {
    const v = S.verdict || {};
    const held = S.results.filter((r) => (r.flags || []).includes("HELD"));
    const man = S.review.manual.map((m) => `<li>${esc(m.sample_id)} ${esc(m.analyte)}: ${fmt(m.start_min, 3)}–${fmt(m.end_min, 3)} min (${esc(m.reason)}${m.user ? ", " + esc(m.user) : ""})</li>`).join("");
    // a decision the run took from a decisions file (quantify --overrides) names the file and row
    const by = (m) => m.source ? ` <span class="muted small">(by ${esc(m.source)})</span>` : "";
    const ex = S.review.exclusions.map((m) => `<li>${esc(m.sample_id)} from ${esc(m.analyte)}: ${esc(m.reason)}${by(m)}</li>`).join("") +
      (S.review.inclusions || []).map((m) => `<li>${esc(m.sample_id)} in ${esc(m.analyte)} (held integration) included: ${esc(m.reason)}${by(m)}</li>`).join("");
    $("#view").innerHTML = `
      <h2>Run</h2>
      <div class="card"><b>${v.accepted ? "ACCEPTED" : "REJECTED"}</b>; deciding rule: <b>${esc(v.deciding_rule || "-")}</b>
        <ul class="small">${(v.reasons || []).map((x) => `<li>${esc(x)}</li>`).join("")}</ul>
        ${(v.not_evaluated || []).length ? `<div class="muted small">not evaluated: ${(v.not_evaluated || []).map(esc).join("; ")}</div>` : ""}
      </div>
      <div class="row">
        <div class="card"><h3>Manual integrations</h3><ul>${man || "<li class='muted'>none</li>"}</ul></div>
        <div class="card"><h3>Calibrators excluded or included</h3><ul>${ex || "<li class='muted'>none</li>"}</ul></div>
        <div class="card"><h3>Edit</h3><button id="undo" ${S.review.can_undo ? "" : "disabled"}>Undo last edit</button></div>
      </div>
      <h2>Results ${held.length ? `(${held.length} held for review, listed first)` : ""}</h2>
      ${resultTable(S.results, [["injection", "#"], ["sample_id", "sample"], ["sample_type", "type"], ["analyte", "analyte"],
        ["area", "area"], ["is_area", "IS area"], ["response", "response"], ["conc", "conc"], ["accuracy_pct", "accuracy %"],
        ["reported", "reported"], ["reported_unit", "unit"], ["flags", "flags"]])}`;
    $("#undo").addEventListener("click", () => post("/api/undo", {}));
  }

  // ------------------------------------------------------------------ calibration
  function calSamples(analyte) {
    // calibration points are in worklist order of calibrators with a response: map each to its injection
    const seen = {};
    const byLevel = {};
    S.injections.filter((i) => i.sample_type === "calibrator").forEach((i) => {
      (byLevel[i.level] = byLevel[i.level] || []).push(i.sample_id);
    });
    const cal = S.calibration[analyte];
    return (cal ? cal.points : []).map((p) => {
      const k = seen[p.level] = (seen[p.level] || 0) + 1;
      return (byLevel[p.level] || [])[k - 1] || "";
    });
  }
  function predict(cal, x) {
    const c = cal.coefficients;
    if (cal.model === "power") return Math.exp(c[0]) * Math.pow(x, c[1]);
    let out = 0;
    for (let i = c.length - 1; i >= 0; i--) out = c[i] + out * x;
    return out;
  }
  function svgEl(tag, attrs, parent) {
    const e = document.createElementNS(SVGNS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function calPlot(cal, samples) {
    const W = 420, H = 260, L = 56, R = 10, T = 10, B = 34;
    const svg = svgEl("svg", { width: W, height: H, class: "calplot" });
    const pts = cal.points.filter((p) => p.x > 0 && p.y > 0);
    if (!pts.length) return svg;
    const lx = pts.map((p) => Math.log10(p.x)), ly = pts.map((p) => Math.log10(p.y));
    const x0 = Math.min(...lx) - 0.1, x1 = Math.max(...lx) + 0.1, y0 = Math.min(...ly) - 0.15, y1 = Math.max(...ly) + 0.15;
    const X = (v) => L + (Math.log10(v) - x0) / (x1 - x0) * (W - L - R);
    const Y = (v) => H - B - (Math.log10(v) - y0) / (y1 - y0) * (H - T - B);
    svgEl("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" }, svg);
    svgEl("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" }, svg);
    let d = "";
    for (let i = 0; i <= 60; i++) {
      const x = Math.pow(10, x0 + (x1 - x0) * i / 60), y = predict(cal, x);
      if (y > 0) d += (d ? "L" : "M") + X(x).toFixed(1) + "," + Y(y).toFixed(1);
    }
    svgEl("path", { d: d, class: "curve" }, svg);
    cal.points.forEach((p, i) => {
      if (!(p.x > 0 && p.y > 0)) return;
      const c = svgEl("circle", { cx: X(p.x), cy: Y(p.y), r: 4, class: "calpt" + (p.included ? "" : " out") }, svg);
      svgEl("title", {}, c).textContent = `${p.level} ${samples[i] || ""}: x=${fmt(p.x)} y=${fmt(p.y)} ${p.included ? "" : "(excluded)"}`;
    });
    const tx = svgEl("text", { x: W / 2, y: H - 6, "text-anchor": "middle" }, svg); tx.textContent = "nominal concentration (log)";
    const ty = svgEl("text", { x: 12, y: H / 2, transform: `rotate(-90 12 ${H / 2})`, "text-anchor": "middle" }, svg); ty.textContent = "response (log)";
    return svg;
  }
  function rePlot(cal) {
    const W = 420, H = 200, L = 56, R = 10, T = 10, B = 30;
    const svg = svgEl("svg", { width: W, height: H, class: "replot" });
    const pts = cal.points.filter((p) => p.x > 0 && p.accuracy_pct !== null);
    if (!pts.length) return svg;
    const lx = pts.map((p) => Math.log10(p.x));
    const x0 = Math.min(...lx) - 0.1, x1 = Math.max(...lx) + 0.1;
    const lim = Math.max(25, ...pts.map((p) => Math.abs(p.accuracy_pct - 100) + 5));
    const X = (v) => L + (Math.log10(v) - x0) / (x1 - x0) * (W - L - R);
    const Y = (re) => T + (lim - re) / (2 * lim) * (H - T - B);
    svgEl("line", { x1: L, y1: Y(0), x2: W - R, y2: Y(0), class: "axis" }, svg);
    [15, -15].forEach((l) => svgEl("line", { x1: L, y1: Y(l), x2: W - R, y2: Y(l), class: "limit" }, svg));
    svgEl("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" }, svg);
    pts.forEach((p) => {
      svgEl("circle", { cx: X(p.x), cy: Y(p.accuracy_pct - 100), r: 4, class: "calpt" + (p.included ? "" : " out") }, svg);
    });
    [lim, 15, 0, -15, -lim].forEach((v) => { const t = svgEl("text", { x: L - 4, y: Y(v) + 4, "text-anchor": "end" }, svg); t.textContent = Math.round(v) + "%"; });
    const tx = svgEl("text", { x: W / 2, y: H - 6, "text-anchor": "middle" }, svg); tx.textContent = "%RE (back-calculated vs nominal)";
    return svg;
  }
  function viewCalibration() {
    const view = $("#view");
    view.innerHTML = "<h2>Calibration</h2>";
    Object.keys(S.calibration).forEach((analyte) => {
      const cal = S.calibration[analyte];
      const card = document.createElement("div");
      card.className = "card";
      card.dataset.analyte = analyte;
      if (!cal) { card.innerHTML = `<h3>${esc(analyte)}</h3><p>no calibration</p>`; view.appendChild(card); return; }
      const samples = calSamples(analyte);
      const rows = cal.points.map((p, i) => {
        const sid = samples[i];
        const same = (e) => e.sample_id === sid && e.analyte === analyte;
        const byReviewer = S.review.exclusions.some(same);
        const putBack = (S.review.inclusions || []).some(same);
        // set aside before the fit because its integration would be held: the reviewer who looked
        // at the chromatogram may include it (the ICH M10 rules then judge it by its accuracy)
        const held = S.results.some((r) => same(r) && (r.flags || []).includes("CAL_HELD"));
        const reasonBox = (cls) => `<input class="${cls}" placeholder="reason" size="18"> `;
        let act = "";
        if (byReviewer) act = reasonBox("incl-reason") + `<button class="include" data-sample="${esc(sid)}">Include again</button>`;
        else if (held) act = reasonBox("incl-reason") + `<button class="include held" data-sample="${esc(sid)}" title="the integration was checked and is fine">Include (integration checked)</button>`;
        else if (p.included || putBack) act = reasonBox("excl-reason") + `<button class="exclude" data-sample="${esc(sid)}">${p.included ? "Exclude" : "Take inclusion back"}</button>`;
        const re = p.accuracy_pct === null ? null : p.accuracy_pct - 100;
        return `<tr class="${p.included ? "" : "excluded"}" data-sample="${esc(sid)}"><td>${esc(p.level)}</td><td>${esc(sid)}</td><td class="num">${fmt(p.x)}</td>` +
          `<td class="num">${fmt(p.y)}</td><td class="num">${fmt(p.back_calc)}</td><td class="num re">${re === null ? "" : fmt(re, 1)}</td>` +
          `<td class="num">±${fmt(p.limit_pct)}</td><td>${p.included ? "yes" : "no"}</td><td class="reason">${esc(p.reason)}</td><td class="act">${act}</td></tr>`;
      }).join("");
      card.innerHTML = `<h3>${esc(analyte)}: ${esc(cal.model)}, ${esc(cal.weighting)}; r² <span class="r2">${fmt(cal.r2, 5)}</span>;
        ${cal.n_included}/${cal.n_calibrators} calibrators; range ${fmt(cal.lloq)}–${fmt(cal.uloq)}; <b>${cal.passed ? "pass" : "FAIL"}</b></h3>
        <div class="row plots"></div>
        <table class="calpoints"><thead><tr><th>level</th><th>sample</th><th>nominal</th><th>response</th><th>back-calc</th><th>%RE</th><th>limit</th><th>included</th><th>reason</th><th></th></tr></thead><tbody>${rows}</tbody></table>
        <div class="small muted">${(cal.reasons || []).map(esc).join("<br>")}</div>`;
      $(".plots", card).appendChild(calPlot(cal, samples));
      $(".plots", card).appendChild(rePlot(cal));
      view.appendChild(card);
      card.querySelectorAll("button.exclude").forEach((b) => b.addEventListener("click", () => {
        const reason = b.parentNode.querySelector(".excl-reason").value.trim();
        if (!reason) { banner("Give a reason to exclude a calibrator (it goes into the audit trail).", true); return; }
        post("/api/exclude", { sample_id: b.dataset.sample, analyte: analyte, reason: reason });
      }));
      card.querySelectorAll("button.include").forEach((b) => b.addEventListener("click", () => {
        const reason = b.parentNode.querySelector(".incl-reason").value.trim();
        if (!reason) { banner("Give a reason to include a calibrator (it goes into the audit trail).", true); return; }
        post("/api/exclude", { sample_id: b.dataset.sample, analyte: analyte, reason: reason, include: true });
      }));
    });
  }

  // ------------------------------------------------------------------ QC
  function viewQC() {
    const rules = S.qc.map((q) => `<tr class="${q.status === "fail" ? "excluded" : ""}"><td>${esc(q.rule)}</td><td>${esc(q.analyte)}</td><td>${esc(q.severity)}</td><td>${esc(q.status)}</td><td>${esc(q.message)}</td></tr>`).join("");
    const qcs = S.results.filter((r) => r.sample_type === "qc");
    $("#view").innerHTML = `<h2>QC rules</h2><table><thead><tr><th>rule</th><th>analyte</th><th>severity</th><th>status</th><th>message</th></tr></thead><tbody>${rules}</tbody></table>
      <h2>QC samples</h2>${resultTable(qcs, [["sample_id", "sample"], ["level", "level"], ["analyte", "analyte"], ["conc", "conc"], ["nominal", "nominal"], ["accuracy_pct", "accuracy %"], ["flags", "flags"]])}`;
  }

  // ------------------------------------------------------------------ patients
  function signoffText() {
    const last = S.review.versions[S.review.versions.length - 1];
    const cur = S.review.signatures.map((s) => `${esc(s.meaning)} by ${esc(s.full_name)} (${esc(s.user)}) at ${esc(s.time)}`).join("; ");
    let txt = cur ? `Current state signed: ${cur}.` : "Current state not signed.";
    if (last) txt += ` Last signed version ${esc(last.version)}: ` + last.signatures.map((s) => `${esc(s.meaning)} by ${esc(s.full_name)} (${esc(s.user)}) at ${esc(s.time)}`).join("; ");
    return txt;
  }
  function viewPatients() {
    const heldIds = new Set(S.results.filter((r) => (r.flags || []).includes("HELD")).map((r) => r.sample_id));
    const ordered = S.interpretation.filter((p) => heldIds.has(p.sample_id)).concat(
      S.interpretation.filter((p) => !heldIds.has(p.sample_id)));  // held for review first
    const rows = ordered.map((p) => {
      const res = S.results.filter((r) => r.sample_id === p.sample_id);
      const flagsAll = [].concat(...res.map((r) => r.flags || []));
      return `<tr class="${flagsAll.includes("HELD") ? "held" : ""}" data-sample="${esc(p.sample_id)}"><td><a href="#/injection/${encodeURIComponent(p.sample_id)}">${esc(p.sample_id)}</a></td><td>${esc(p.patient_id)}</td>
        <td class="num tgn">${esc(p.tgn_pmol_8e8)}</td><td class="num mmp">${esc(p.mmp_pmol_8e8)}</td><td class="num">${esc(p.ratio)}</td><td>${esc(p.category)}</td>
        <td class="small">${esc(p.comment)}${p.notes ? "<br><i>" + esc(p.notes) + "</i>" : ""}</td><td>${flags([...new Set(flagsAll)])}</td></tr>`;
    }).join("");
    $("#view").innerHTML = `<h2>Patients</h2><div class="card sig small">${signoffText()}</div>
      <table class="patients"><thead><tr><th>sample</th><th>patient</th><th>6-TGN</th><th>6-MMPN</th><th>ratio</th><th>category</th><th>comment (decision support)</th><th>flags</th></tr></thead><tbody>${rows}</tbody></table>
      <p class="muted small">pmol/8x10^8 RBC. A value that may be wrong (run rejected, calibration failed, out of range) is not interpreted.</p>`;
  }

  // ------------------------------------------------------------------ injections
  function viewInjections() {
    const rows = S.injections.map((i) => {
      const res = S.results.filter((r) => r.sample_id === i.sample_id);
      const fl = [...new Set([].concat(...res.map((r) => r.flags || [])))];
      return `<tr class="${fl.includes("HELD") ? "held" : ""}"><td>${i.injection}</td><td><a href="#/injection/${encodeURIComponent(i.sample_id)}">${esc(i.sample_id)}</a></td><td>${esc(i.sample_type)}</td><td>${esc(i.level)}</td><td>${esc(i.file)}</td><td>${flags(fl)}</td></tr>`;
    }).join("");
    $("#view").innerHTML = `<h2>Injections</h2><table><thead><tr><th>#</th><th>sample</th><th>type</th><th>level</th><th>file</th><th>flags</th></tr></thead><tbody>${rows}</tbody></table>`;
  }

  async function viewInjection(sid) {
    const view = $("#view");
    let doc = injCache[sid];
    if (!doc) {
      view.innerHTML = `<h2>${esc(sid)}</h2><p class="muted">Loading traces…</p>`;
      try { doc = injCache[sid] = await api("/api/injection/" + encodeURIComponent(sid)); } catch (e) { banner(e.message, true); return; }
      if (route().arg !== sid) return;
    }
    const ids = S.injections.map((i) => i.sample_id);
    const k = ids.indexOf(sid);
    const prev = k > 0 ? ids[k - 1] : null, next = k < ids.length - 1 ? ids[k + 1] : null;
    view.innerHTML = `<h2>${esc(sid)} <span class="muted small">${esc(doc.sample_type)} ${esc(doc.level || "")} · ${esc(doc.file)}</span></h2>
      <div class="inline">${prev ? `<a href="#/injection/${encodeURIComponent(prev)}">← ${esc(prev)}</a>` : ""} ${next ? `<a href="#/injection/${encodeURIComponent(next)}">${esc(next)} →</a>` : ""}
      <button id="undo" ${S.review.can_undo ? "" : "disabled"}>Undo last edit</button></div>
      ${doc.error ? `<p class="banner error">${esc(doc.error)}</p>` : ""}`;
    $("#undo").addEventListener("click", () => post("/api/undo", {}));
    doc.analytes.forEach((a) => view.appendChild(analytePanel(sid, a)));
  }

  function analytePanel(sid, a) {
    const card = document.createElement("div");
    card.className = "card analyte";
    card.dataset.analyte = a.analyte;
    const res = S.results.find((r) => r.sample_id === sid && r.analyte === a.analyte) || {};
    const quant = a.channels.find((c) => c.role === "quantifier");
    const pk = quant && quant.peak;
    const reasons = S.review.reasons.map((r) => `<option>${esc(r)}</option>`).join("");
    const manualChans = a.channels.filter((c) => c.manual);
    card.innerHTML = `<h3>${esc(a.analyte)} ${manualChans.map((c) => `<span class="flag MANUAL" title="${esc(c.key)}">MANUAL${c.role === "quantifier" ? "" : " (" + esc(c.role) + ")"}</span>`).join(" ")}</h3>
      <div class="legend">${a.channels.map((c) => `<span class="k-${c.role === "quantifier" ? "quant" : c.role === "qualifier" ? "qual" : "is"}">— ${esc(c.role)} ${esc(c.trace)}${c.role === "quantifier" ? "" : " (scaled)"}</span>`).join("")}</div>
      <div class="row"><div class="plot"></div>
      <div class="side">
        <table class="vals"><tr><th>area</th><td class="num area-val">${fmt(res.area)}</td></tr>
          <tr><th>IS area</th><td class="num">${fmt(res.is_area)}</td></tr>
          <tr><th>response</th><td class="num">${fmt(res.response)}</td></tr>
          <tr><th>conc (${esc(res.conc_unit || "")})</th><td class="num conc-val">${fmt(res.conc)}</td></tr>
          <tr><th>reported (${esc(res.reported_unit || "")})</th><td class="num reported-val">${fmt(res.reported)}</td></tr>
          <tr><th>RT / S/N</th><td class="num">${fmt(res.rt_min, 3)} / ${fmt(res.sn, 1)}</td></tr>
          <tr><th>flags</th><td>${flags(res.flags)}</td></tr></table>
        <div class="inline zoom"><button class="zin">zoom in</button><button class="zout">zoom out</button><button class="zfit">peak</button><button class="zall">whole trace</button></div>
        <form class="integrate">
          <div class="inline">channel <select class="channel">${a.channels.map((c) => `<option value="${esc(c.key)}">${esc(c.role)}: ${esc(c.key)}</option>`).join("")}</select></div>
          <div class="inline">start <input class="start" size="7" value="${pk ? fmt(pk.start_min, 4) : ""}"> end <input class="end" size="7" value="${pk ? fmt(pk.end_min, 4) : ""}"> min</div>
          <div class="inline">reason <select class="reason-list"><option value="">(choose or type)</option>${reasons}</select></div>
          <div class="inline"><input class="reason-text" placeholder="free-text reason" size="30"></div>
          <div class="inline"><button type="submit" class="primary apply">Apply manual integration</button>
          ${manualChans.map((c) => `<button type="button" class="auto" data-key="${esc(c.key)}">Back to automatic${c.role === "quantifier" ? "" : " (" + esc(c.role) + ")"}</button>`).join("")}</div>
          <div class="muted small">Drag the red start/end handles on the chromatogram, or type the times.</div>
        </form>
      </div></div>`;
    const plot = $(".plot", card);
    const st = { key: quant ? quant.key : a.analyte, start: pk ? pk.start_min : null, end: pk ? pk.end_min : null };
    const redraw = () => { plot.innerHTML = ""; plot.appendChild(chromSvg(a, st, card)); };
    const span = () => {
      const t = quant ? quant.t : [0, 1];
      return [t[0], t[t.length - 1]];
    };
    const fit = () => {
      const c = a.search_rt_min !== null ? a.search_rt_min : (pk ? pk.rt_min : null);
      if (c === null) return span();
      const half = Math.max(a.window_min * 2.5, pk ? (pk.end_min - pk.start_min) * 1.5 : 0);
      return [c - half, c + half];
    };
    if (!zoom[sid + "|" + a.analyte]) zoom[sid + "|" + a.analyte] = fit();
    const zkey = sid + "|" + a.analyte;
    const scale = (f) => { const [t0, t1] = zoom[zkey], c = (t0 + t1) / 2, h = (t1 - t0) / 2 * f; zoom[zkey] = [c - h, c + h]; redraw(); };
    $(".zin", card).addEventListener("click", () => scale(0.5));
    $(".zout", card).addEventListener("click", () => scale(2));
    $(".zfit", card).addEventListener("click", () => { zoom[zkey] = fit(); redraw(); });
    $(".zall", card).addEventListener("click", () => { zoom[zkey] = span(); redraw(); });
    card.zkey = zkey;
    card.onBounds = (s, e) => { st.start = s; st.end = e; $(".start", card).value = s.toFixed(4); $(".end", card).value = e.toFixed(4); };
    $(".start", card).addEventListener("change", () => { st.start = parseFloat($(".start", card).value); redraw(); });
    $(".end", card).addEventListener("change", () => { st.end = parseFloat($(".end", card).value); redraw(); });
    $(".reason-list", card).addEventListener("change", (ev) => { if (ev.target.value) $(".reason-text", card).value = ev.target.value; });
    $("form.integrate", card).addEventListener("submit", (ev) => {
      ev.preventDefault();
      const reason = $(".reason-text", card).value.trim();
      const s = parseFloat($(".start", card).value), e = parseFloat($(".end", card).value);
      if (!reason) { banner("Give a reason for the manual integration (from the list or free text).", true); return; }
      if (!(e > s)) { banner("The end must be after the start.", true); return; }
      post("/api/integrate", { sample_id: sid, analyte: st.key, start_min: s, end_min: e, reason: reason });
    });
    card.querySelectorAll("button.auto").forEach((b) => b.addEventListener("click",
      () => post("/api/automatic", { sample_id: sid, analyte: b.dataset.key })));
    $("select.channel", card).addEventListener("change", (ev) => {
      // integrate the qualifier or the internal standard instead: its own peak's boundaries
      const c = a.channels.find((x) => x.key === ev.target.value);
      st.key = c.key;
      st.start = c.peak ? c.peak.start_min : null; st.end = c.peak ? c.peak.end_min : null;
      $(".start", card).value = st.start === null ? "" : st.start.toFixed(4);
      $(".end", card).value = st.end === null ? "" : st.end.toFixed(4);
      redraw();
    });
    redraw();
    return card;
  }

  function chromSvg(a, st, card) {
    const W = 640, H = 300, L = 60, R = 12, T = 12, B = 32;
    const svg = svgEl("svg", { width: W, height: H, class: "chrom" });
    const [t0, t1] = zoom[card.zkey];
    const quant = a.channels.find((c) => c.role === "quantifier");
    if (!quant) return svg;
    const inView = (c) => { const ys = []; c.t.forEach((t, i) => { if (t >= t0 && t <= t1) ys.push(c.y[i]); }); return ys; };
    const qy = inView(quant);
    let ymax = Math.max(1e-12, ...qy), ymin = Math.min(0, ...qy);
    const pad = (ymax - ymin) * 0.08; ymax += pad;
    const X = (t) => L + (t - t0) / (t1 - t0) * (W - L - R);
    const Y = (v) => H - B - (v - ymin) / (ymax - ymin) * (H - T - B);
    const Tinv = (px) => t0 + (px - L) / (W - L - R) * (t1 - t0);
    // axes and ticks
    svgEl("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" }, svg);
    svgEl("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" }, svg);
    for (let i = 0; i <= 5; i++) {
      const t = t0 + (t1 - t0) * i / 5;
      const tx = svgEl("text", { x: X(t), y: H - B + 14, "text-anchor": "middle" }, svg); tx.textContent = t.toFixed(2);
      const v = ymin + (ymax - ymin) * i / 5;
      const ty = svgEl("text", { x: L - 4, y: Y(v) + 4, "text-anchor": "end" }, svg); ty.textContent = fmt(v);
    }
    const xl = svgEl("text", { x: (W + L) / 2, y: H - 4, "text-anchor": "middle" }, svg); xl.textContent = "time (min)";
    // search window
    if (a.search_rt_min !== null) {
      svgEl("rect", { x: X(a.search_rt_min - a.window_min), y: T, width: Math.max(0, X(a.search_rt_min + a.window_min) - X(a.search_rt_min - a.window_min)), height: H - T - B, class: "window" }, svg);
    }
    const clip = svgEl("clipPath", { id: "clip-" + card.zkey.replace(/[^a-zA-Z0-9]/g, "_") }, svg);
    svgEl("rect", { x: L, y: T, width: W - L - R, height: H - T - B }, clip);
    const g = svgEl("g", { "clip-path": `url(#${clip.id})` }, svg);
    const path = (c, k) => {
      let d = "";
      c.t.forEach((t, i) => { if (t >= t0 - (t1 - t0) * 0.05 && t <= t1 + (t1 - t0) * 0.05) d += (d ? "L" : "M") + X(t).toFixed(1) + "," + Y(c.y[i] * k).toFixed(1); });
      return d;
    };
    // the quantifier in signal units; the qualifier and the IS scaled to the quantifier's top
    const scale = (c) => (c.role === "quantifier" ? 1 : (ymax - pad) / Math.max(1e-12, ...inView(c)));
    // integrated area of the channel being integrated (between the trace and the baseline)
    const sel = a.channels.find((c) => c.key === st.key) || quant;
    const ks = scale(sel);
    const p = sel.peak;
    if (p && p.start_min !== null) {
      const bs = (p.baseline_start !== null ? p.baseline_start : 0) * ks, be = (p.baseline_end !== null ? p.baseline_end : 0) * ks;
      const base = (t) => bs + (be - bs) * (t - p.start_min) / ((p.end_min - p.start_min) || 1);
      let d = "";
      const ts = [];
      sel.t.forEach((t, i) => { if (t >= p.start_min && t <= p.end_min) { ts.push(t); d += (d ? "L" : "M") + X(t).toFixed(1) + "," + Y(sel.y[i] * ks).toFixed(1); } });
      if (ts.length) {
        for (let i = ts.length - 1; i >= 0; i--) d += "L" + X(ts[i]).toFixed(1) + "," + Y(base(ts[i])).toFixed(1);
        svgEl("path", { d: d + "Z", class: "area" }, g);
      }
      svgEl("line", { x1: X(p.start_min), y1: Y(bs), x2: X(p.end_min), y2: Y(be), class: "baseline" }, g);
    }
    // IS-guided boundaries: the internal standard's own integration window
    const isc = a.channels.find((c) => c.role === "internal standard");
    if (isc && isc.peak && isc.peak.start_min !== null) {
      [isc.peak.start_min, isc.peak.end_min].forEach((t) => svgEl("line", { x1: X(t), y1: T, x2: X(t), y2: H - B, class: "isbound" }, g));
    }
    a.channels.forEach((c) => {
      svgEl("path", { d: path(c, scale(c)), class: c.role === "quantifier" ? "quant" : c.role === "qualifier" ? "qual" : "istd" }, g);
    });
    // draggable integration boundaries
    if (st.start !== null && st.end !== null && isFinite(st.start) && isFinite(st.end)) {
      ["start", "end"].forEach((which) => {
        const x = X(st[which]);
        const line = svgEl("line", { x1: x, y1: T, x2: x, y2: H - B, class: "bound", "data-bound": which }, svg);
        const hnd = svgEl("rect", { x: x - 5, y: T, width: 10, height: 14, class: "handle", "data-handle": which }, svg);
        const hit = svgEl("rect", { x: x - 7, y: T, width: 14, height: H - T - B, class: "handle-hit", "data-hit": which }, svg);
        hit.addEventListener("pointerdown", (ev) => {
          ev.preventDefault();
          hit.setPointerCapture(ev.pointerId);
          const move = (e2) => {
            const rect = svg.getBoundingClientRect();
            let t = Tinv(e2.clientX - rect.left);
            if (which === "start") t = Math.min(t, st.end - 1e-3); else t = Math.max(t, st.start + 1e-3);
            st[which] = t;
            const nx = X(t);
            line.setAttribute("x1", nx); line.setAttribute("x2", nx);
            hnd.setAttribute("x", nx - 5); hit.setAttribute("x", nx - 7);
            card.onBounds(st.start, st.end);
          };
          const up = () => { hit.removeEventListener("pointermove", move); hit.removeEventListener("pointerup", up); };
          hit.addEventListener("pointermove", move);
          hit.addEventListener("pointerup", up);
        });
      });
    }
    svg.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const rect = svg.getBoundingClientRect();
      const c = Tinv(ev.clientX - rect.left), f = ev.deltaY > 0 ? 1.25 : 0.8;
      zoom[card.zkey] = [c - (c - t0) * f, c + (t1 - c) * f];
      const plot = svg.parentNode; plot.innerHTML = ""; plot.appendChild(chromSvg(a, st, card));
    }, { passive: false });
    return svg;
  }

  // ------------------------------------------------------------------ sign-off
  function viewSignoff() {
    const sigs = S.review.signatures.map((s) => `<div class="sig"><b>${esc(s.meaning)}</b> (${esc(s.meaning_text)}) by ${esc(s.full_name)} (${esc(s.user)}, ${esc(s.role)}) at ${esc(s.time)}<br><span class="muted small">results sha256 ${esc(s.results_sha256)}</span></div>`).join("");
    const vers = S.review.versions.slice().reverse().map((v) => `<div class="card version" data-version="${esc(v.version)}"><b>${esc(v.version)}</b>${v.supersedes ? ` supersedes ${esc(v.supersedes)}` : ""}, released ${esc(v.released)}
      <div class="small">${v.signatures.map((s) => `${esc(s.meaning)} by ${esc(s.full_name)} (${esc(s.user)}) at ${esc(s.time)}`).join("<br>")}</div>
      <div class="inline small"><a href="/files/versions/${esc(v.version)}/report.pdf" target="_blank">report.pdf</a>
      <a href="/files/versions/${esc(v.version)}/report.html" target="_blank">report.html</a>
      <a href="/files/versions/${esc(v.version)}/results.csv" target="_blank">results.csv</a>
      <a href="/files/versions/${esc(v.version)}/audit.jsonl" target="_blank">audit.jsonl</a></div></div>`).join("");
    const journal = S.review.journal.slice().reverse().map((e) => `<tr><td>${e.seq}</td><td>${esc(e.time)}</td><td>${esc(e.event)}</td><td>${esc(e.user)}</td><td>${esc(e.sample_id)} ${esc(e.analyte)}</td><td>${esc(e.reason || e.meaning || e.version || "")}</td></tr>`).join("");
    const form = (meaning, title, help) => `<form class="card sign" data-meaning="${meaning}"><h3>${title}</h3><p class="small muted">${help}</p>
      <div class="inline">user <input class="sign-user" size="10" autocomplete="off"> password <input class="sign-password" type="password" size="12" autocomplete="off">
      <button type="submit" class="primary">Sign: ${meaning}</button></div></form>`;
    $("#view").innerHTML = `<h2>Sign-off</h2>
      <div class="card">${sigs || '<span class="muted">The current state carries no signature.</span>'}
        <p class="small muted">A signature records the user's name, the meaning, the time (UTC) and the sha256 of the results it covers; the password is asked again at each signature. An edit after a signature voids it.</p></div>
      <div class="row">${form("reviewed", "1. Technical review (analyst)", "I have reviewed the chromatograms, integrations, calibration and QC of this run.")}
      ${form("authorised", "2. Authorisation (authoriser, another person)", "I authorise the release of these patient results. Signing releases a new signed version.")}</div>
      <h2>Signed versions</h2>${vers || '<p class="muted">none yet</p>'}
      <h2>Review journal (latest)</h2><table><thead><tr><th>seq</th><th>time</th><th>event</th><th>user</th><th>sample</th><th>reason / meaning</th></tr></thead><tbody>${journal}</tbody></table>`;
    document.querySelectorAll("form.sign").forEach((f) => f.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const d = await post("/api/sign", { meaning: f.dataset.meaning, user: $(".sign-user", f).value, password: $(".sign-password", f).value });
      if (d) banner(d.entry.version ? `Authorised: signed version ${d.entry.version} released.` : `Signed: ${d.entry.meaning} by ${d.entry.user}.`);
    }));
  }

  showUser();
  load().catch((e) => banner(e.message, true));
})();
