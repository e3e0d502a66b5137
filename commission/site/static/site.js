// Results site page script: fetches the page's JSON (/site-api/...) every few
// seconds and redraws when the server's stamp changes (new protocols arrived);
// every chart is SVG drawn here, every chart has a table beside it. Plain JS, no
// dependencies. Numbers are formatted for the page language; the exact integers
// sit in data-value attributes.
"use strict";
(function () {
  const body = document.body;
  const api = body.dataset.api;
  if (!api) return;
  const lang = body.dataset.lang;
  const kind = body.dataset.kind;
  const base = body.dataset.base;
  const pollMs = Number(body.dataset.poll) || 3000;
  const T = JSON.parse(document.getElementById("texts").textContent);
  const locale = { kk: "kk-KZ", ru: "ru-RU", en: "en-GB" }[lang] || "en-GB";
  const SVG = "http://www.w3.org/2000/svg";
  const NEUTRAL = "#c8c8c8";
  let stamp = null;

  const int = (n) => Number(n).toLocaleString(locale);
  const pct = (n) => (n === null || n === undefined) ? "–" : Number(n).toLocaleString(locale, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const dec = (s) => Number(s).toLocaleString(locale, { minimumFractionDigits: 2, maximumFractionDigits: 2 });  // already rounded exactly
  const fill = (text, fields) => text.replace(/\{(\w+)\}/g, (_, k) => fields[k]);
  const name = (names) => names[lang] || names.en;
  const q = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v; else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v; else node.setAttribute(k, v);
    }
    for (const c of children) if (c) node.append(c);
    return node;
  }
  function swatch(colour) {
    const s = el("span", { class: "swatch", "aria-hidden": "true" });
    s.style.background = colour;
    return s;
  }
  function fillRows(tbody, rows) { tbody.replaceChildren(...rows); }
  function link(href, text) { return el("a", { href: href + (href.includes("?") ? "&" : "?") + "lang=" + lang, text: text }); }

  // -- charts ------------------------------------------------------------------
  function hemicycle(h, parties) {
    const pts = h.seats;
    const rMax = Math.max(...pts.map((p) => Math.hypot(p.x, p.y)));
    let gap = Infinity;  // the nearest two seats set the dot size
    for (let i = 0; i < pts.length; i++) for (let j = i + 1; j < pts.length; j++)
      gap = Math.min(gap, Math.hypot(pts[i].x - pts[j].x, pts[i].y - pts[j].y));
    const r = Math.min(gap * 0.45, 0.2);
    const pad = r + 0.05;
    const w = 2 * (rMax + pad), hgt = rMax + 2 * pad;
    const byId = Object.fromEntries(parties.map((p) => [p.id, p]));
    const filled = pts.filter((p) => p.party).length;
    const label = parties.filter((p) => p.majilis_seats).map((p) => `${name(p.names)} ${p.majilis_seats}`).join(", ");
    const root = svg("svg", { viewBox: `${-rMax - pad} ${-rMax - pad} ${w} ${hgt}`, role: "img",
      "aria-label": `${T.seats_heading}: ${label}${filled < h.total ? `, ${T.not_allocated} ${h.total - filled}` : ""}` });
    for (const p of pts) {
      const colour = p.party ? (h.colours[p.party] || "#555555") : NEUTRAL;
      const c = svg("circle", { cx: p.x.toFixed(4), cy: (-p.y).toFixed(4), r: r.toFixed(4), fill: colour, stroke: "#ffffff", "stroke-width": (r * 0.15).toFixed(4),
        "data-party": p.party || "" });
      c.append(svg("title", { text: p.party ? name(byId[p.party] ? byId[p.party].names : { en: p.party }) : T.not_allocated }));
      root.append(c);
    }
    root.append(svg("text", { x: 0, y: -0.3, "text-anchor": "middle", "font-size": 0.5, "font-weight": "700", fill: "#1a1a1a",
      id: "seats-filled", "data-value": filled, text: `${filled}` }));
    root.append(svg("text", { x: 0, y: -0.02, "text-anchor": "middle", "font-size": 0.2, fill: "#1a1a1a", text: `/ ${h.total}` }));
    return root;
  }

  function shareBars(parties, threshold) {
    // one row per party: its name above, the bar below, the share after the bar
    const rowH = 46, left = 4, right = 70, width = 420;
    const max = Math.max(threshold || 0, ...parties.map((p) => p.share_percent || 0)) * 1.05 || 1;
    const scale = (v) => left + (width - left - right) * v / max;
    const height = parties.length * rowH + 30;
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": `${T.results_heading}: ` + parties.map((p) => `${name(p.names)} ${pct(p.share_percent)} %`).join(", ") });
    const ys = parties.map((_, i) => 4 + i * rowH);
    parties.forEach((p, i) => root.append(svg("rect", { x: left, y: ys[i] + 20, width: Math.max(1, scale(p.share_percent || 0) - left).toFixed(1), height: 18,
      fill: p.colour })));
    if (threshold) {  // over the bars, under the labels (which have a white halo)
      const x = scale(threshold).toFixed(1);
      root.append(svg("line", { x1: x, x2: x, y1: 2, y2: height - 22, stroke: "#1a1a1a", "stroke-width": 2, "stroke-dasharray": "5 4", id: "threshold-line" }));
      root.append(svg("text", { x: x, y: height - 6, "text-anchor": x < width / 3 ? "start" : "middle", "font-size": 13, fill: "#1a1a1a",
        text: `${T.threshold} ${int(threshold)} %` }));
    }
    const halo = { stroke: "#ffffff", "stroke-width": 4, "paint-order": "stroke", fill: "#1a1a1a", "font-size": 14 };
    parties.forEach((p, i) => {
      root.append(svg("text", { ...halo, x: left, y: ys[i] + 14, text: name(p.names) }));
      root.append(svg("text", { ...halo, x: scale(p.share_percent || 0) + 5, y: ys[i] + 34, "font-weight": 600, text: `${pct(p.share_percent)} %` }));
    });
    return root;
  }

  function turnoutChart(data) {
    const box = q("turnout");
    if (!data) { box.replaceChildren(el("p", { class: "note", id: "no-turnout", text: T.no_turnout })); return; }
    const hours = data.cec_hours, got = Object.fromEntries(data.hours.map((h) => [h.hour, h]));
    const width = 520, height = 220, left = 40, bottom = 30, bw = (width - left) / hours.length;
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": `${T.turnout_hours}: ` + data.hours.map((h) => `${h.hour}:00 ${pct(h.percent)} %`).join(", ") });
    for (const g of [0, 25, 50, 75, 100]) {
      const y = height - bottom - (height - bottom - 10) * g / 100;
      root.append(svg("line", { x1: left, x2: width, y1: y, y2: y, stroke: "#c8c8c8" }));
      root.append(svg("text", { x: left - 6, y: y, "text-anchor": "end", "dominant-baseline": "middle", "font-size": 12, fill: "#4d4d4d", text: `${g}` }));
    }
    hours.forEach((hour, i) => {
      const h = got[hour];
      const x = left + i * bw;
      if (h) {
        const bh = (height - bottom - 10) * (h.percent || 0) / 100;
        root.append(svg("rect", { x: x + bw * 0.2, y: height - bottom - bh, width: bw * 0.6, height: bh, fill: "#1f5fa8" }));
        root.append(svg("text", { x: x + bw / 2, y: height - bottom - bh - 5, "text-anchor": "middle", "font-size": 12, fill: "#1a1a1a", text: pct(h.percent) }));
      }
      root.append(svg("text", { x: x + bw / 2, y: height - 10, "text-anchor": "middle", "font-size": 12, fill: "#1a1a1a", text: `${hour}:00` }));
    });
    const table = el("table", { class: "data", id: "turnout-table" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: T.hour }), el("th", { scope: "col", class: "num", text: `${T.turnout}, %` }))),
      el("tbody", {}, ...data.hours.map((h) => el("tr", { "data-hour": h.hour }, el("td", { text: `${h.hour}:00` }),
        el("td", { class: "num", "data-value": h.percent, text: pct(h.percent) })))));
    box.replaceChildren(root, table);
  }

  function turnoutByRegion(regions, national) {
    const box = q("turnout-regions");
    if (!national) { box.replaceChildren(); return; }
    const hours = national.cec_hours;
    const cell = (r, hour) => {
      const h = r.turnout_by_hour && r.turnout_by_hour.hours.find((x) => x.hour === hour);
      return el("td", { class: "num", "data-value": h ? h.percent : null, text: h ? pct(h.percent) : "–" });
    };
    box.replaceChildren(el("table", { class: "data", id: "turnout-regions-table" },
      el("caption", { text: T.turnout_regions }),
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: T.region }), ...hours.map((h) => el("th", { scope: "col", class: "num", text: `${h}:00` })))),
      el("tbody", {}, ...regions.map((r) => el("tr", { "data-region": r.code }, el("th", { scope: "row", text: name(r.names) }),
        ...hours.map((h) => cell(r, h)))))));
  }

  function cartogram(regions, parties) {
    const colours = Object.fromEntries(parties.map((p) => [p.id, p.colour]));
    const names = Object.fromEntries(parties.map((p) => [p.id, name(p.names)]));
    const cols = Math.max(...regions.map((r) => r.tile.col)) + 1, rows = Math.max(...regions.map((r) => r.tile.row)) + 1;
    const tw = 124, th = 84, g = 6;
    const root = svg("svg", { viewBox: `0 0 ${cols * (tw + g)} ${rows * (th + g)}`, role: "group", "aria-label": T.map_heading });
    for (const r of regions) {
      const x = r.tile.col * (tw + g), y = r.tile.row * (th + g);
      const lead = r.leading ? names[r.leading] : "–";
      const a = svg("a", { href: `${base}region/${encodeURIComponent(r.code)}?lang=${lang}`, "data-region": r.code,
        "aria-label": `${name(r.names)}: ${int(r.reported)} / ${int(r.expected)}, ${lead}` });
      a.append(svg("rect", { x: x, y: y, width: tw, height: th, rx: 5, fill: "#ffffff", stroke: r.leading ? colours[r.leading] : NEUTRAL, "stroke-width": 3 }));
      a.append(svg("rect", { x: x + 1.5, y: y + 1.5, width: tw - 3, height: 12, fill: r.leading ? colours[r.leading] : NEUTRAL }));
      const lines = [];  // greedy lines of about 13 characters, three at most
      for (const word of name(r.names).split(/\s+/)) {
        if (lines.length && (lines[lines.length - 1] + " " + word).length <= 13) lines[lines.length - 1] += " " + word; else lines.push(word);
      }
      lines.slice(0, 3).forEach((line, i) => a.append(svg("text", { x: x + tw / 2, y: y + 29 + i * 14, "text-anchor": "middle", "font-size": 12, "font-weight": 600,
        fill: "#1a1a1a", text: line })));
      a.append(svg("text", { x: x + tw / 2, y: y + th - 8, "text-anchor": "middle", "font-size": 12, fill: "#1a1a1a", text: `${int(r.reported)} / ${int(r.expected)}` }));
      root.append(a);
    }
    return root;
  }

  function missingList(numbers, conflicts) {
    const box = q("missing");
    if (!numbers.length) { box.replaceChildren(el("p", { text: T.none_missing })); return; }
    const shown = numbers.slice(0, 300);
    const list = el("ul", { class: "missing-list", "data-count": numbers.length },
      ...shown.map((n) => el("li", { "data-precinct": n }, link(`${base}precinct/${n}`, String(n)),
        (conflicts || []).includes(n) ? el("span", { class: "conflict", text: ` (${T.conflict})` }) : null)));
    box.replaceChildren(el("p", { text: `${int(numbers.length)}` }), list,
      numbers.length > shown.length ? el("p", { text: fill(T.and_more, { n: int(numbers.length - shown.length) }) }) : "");
  }

  function status(s) {
    const text = s.complete ? T.complete : fill(T.reported, { r: int(s.reported), e: int(s.expected) });
    const node = q("status");
    node.dataset.reported = s.reported;
    if (node.textContent !== text) node.textContent = text;  // aria-live: said once per change
    q("provisional").hidden = !!s.complete;
  }

  function partyCell(p) { return el("th", { scope: "row" }, swatch(p.colour), name(p.names)); }

  // -- pages -------------------------------------------------------------------
  function national(d) {
    status(d.status);
    q("hemicycle").replaceChildren(hemicycle(d.hemicycle, d.parties));
    fillRows(q("seats-table").tBodies[0], d.parties.filter((p) => p.majilis_seats).map((p) =>
      el("tr", { "data-party": p.id }, partyCell(p), el("td", { class: "num seats", "data-value": p.majilis_seats, text: int(p.majilis_seats) }))));
    const a = d.allocation;
    q("shares").replaceChildren(shareBars(d.parties, a.threshold_percent));
    q("allocation").textContent = a.error ? a.error : fill(T.allocation_sentence, { p: int(a.threshold_percent), n: int(a.participated),
      v: dec(a.threshold_votes_decimal), q: dec(a.quota_decimal), s: int(a.list_seats) });
    fillRows(q("results-table").tBodies[0], d.parties.map((p) => el("tr", { "data-party": p.id }, partyCell(p),
      el("td", { class: "num", "data-value": p.votes, text: int(p.votes) }), el("td", { class: "num", text: pct(p.share_percent) }),
      el("td", { class: "num", "data-value": p.list_seats, text: int(p.list_seats) }),
      el("td", { class: "num", "data-value": p.majilis_seats, text: int(p.majilis_seats) }))));
    q("turnout-total").textContent = `${T.turnout}: ${pct(d.turnout_percent)} %`;
    turnoutChart(d.turnout_by_hour);
    turnoutByRegion(d.regions, d.turnout_by_hour);
    q("map").replaceChildren(cartogram(d.regions, d.parties));
    const names = Object.fromEntries(d.parties.map((p) => [p.id, p]));
    fillRows(q("regions-table").tBodies[0], d.regions.map((r) => el("tr", { "data-region": r.code },
      el("th", { scope: "row" }, link(`${base}region/${encodeURIComponent(r.code)}`, name(r.names))),
      el("td", { class: "num", text: `${int(r.reported)} / ${int(r.expected)}` }), el("td", { class: "num", text: pct(r.turnout_percent) }),
      el("td", {}, r.leading ? swatch(names[r.leading].colour) : null, r.leading ? name(names[r.leading].names) : "–"))));
    q("smd").hidden = !d.single_member.length;
    fillRows(q("smd-table").tBodies[0], d.single_member.map((m) => {
      const who = m.winner ? name(m.winner) : m.tied.map(name).join(", ");
      const outcome = m.outcome === "elected" ? fill(T.outcome_elected, { w: who }) : m.outcome === "tie" ? fill(T.outcome_tie, { w: who })
        : m.outcome === "against_all" ? T.outcome_against_all : T.outcome_no_votes;
      const party = m.outcome !== "elected" ? "–" : m.party && names[m.party] ? name(names[m.party].names) : T.independent;
      return el("tr", { "data-district": m.district, "data-outcome": m.outcome }, el("th", { scope: "row", text: name(m.names) }),
        el("td", { text: outcome }), el("td", {}, m.party && names[m.party] && m.outcome === "elected" ? swatch(names[m.party].colour) : null, party),
        el("td", { class: "num", "data-value": m.top_votes, text: int(m.top_votes) }));
    }));
    missingList(d.missing, d.status.conflicts);
  }

  function region(d) {
    status(d.status);
    q("shares").replaceChildren(shareBars(d.parties, null));
    fillRows(q("results-table").tBodies[0], d.parties.map((p) => el("tr", { "data-party": p.id }, partyCell(p),
      el("td", { class: "num", "data-value": p.votes, text: int(p.votes) }), el("td", { class: "num", text: pct(p.share_percent) }))));
    q("turnout-total").textContent = `${T.turnout}: ${pct(d.turnout_percent)} %`;
    turnoutChart(d.turnout_by_hour);
    fillRows(q("precincts-table").tBodies[0], d.precincts.map((p) => el("tr", { "data-precinct": p.number },
      el("th", { scope: "row" }, link(`${base}precinct/${p.number}`, String(p.number))),
      el("td", { text: p.reported ? T.status_counted : T.status_missing }), el("td", { class: "num", text: pct(p.turnout_percent) }))));
    missingList(d.missing, []);
  }

  function precinct(d) {
    const text = d.status === "counted" ? T.status_counted : d.status === "conflict" ? T.conflict : T.status_missing;
    const node = q("status");
    node.dataset.state = d.status;
    if (node.textContent !== text) node.textContent = text;
    const regionLink = q("region-link");
    regionLink.href = `${base}region/${encodeURIComponent(d.precinct.region.code)}?lang=${lang}`;
    regionLink.textContent = name(d.precinct.region.names);
    q("address").textContent = name(d.precinct.address);
    q("protocol-files").hidden = d.status !== "counted";
    fillRows(q("results-table").tBodies[0], (d.parties || []).map((p) => el("tr", { "data-party": p.id }, partyCell(p),
      el("td", { class: "num", "data-value": p.votes, text: int(p.votes) }), el("td", { class: "num", text: pct(p.share_percent) }))));
    fillRows(q("counts-table").tBodies[0], Object.entries(d.counts || {}).map(([k, v]) =>
      el("tr", {}, el("th", { scope: "row", text: T[k] || k }), el("td", { class: "num", "data-value": v, text: int(v) }))));
  }

  const render = { national, region, precinct }[kind];

  async function poll() {
    try {
      const response = await fetch(api, { cache: "no-store", headers: { Accept: "application/json" } });
      if (response.ok) {
        const data = await response.json();
        if (data.stamp !== stamp) {
          render(data);
          stamp = data.stamp;
          body.dataset.stamp = stamp;
        }
      }
    } catch (e) {
      // the server is away for a moment: keep what is shown, ask again
    }
    setTimeout(poll, pollMs);
  }
  poll();
})();
