// graphdiff viewer: the diagram with pan and zoom, a panel with the full value and gradient of whatever is
// clicked, leaf edits recomputed by the server, the step-through, cluster collapsing, gradient checks.
//
// Everything the page shows that came from the spec (ids, names, descriptions) is put in as text
// (textContent, never innerHTML); the diagram is Graphviz's SVG, parsed as XML and stripped of anything
// active before it is inserted. Items are found by the SVG ids graphdiff gives them: n<i> is the i-th id
// of the graph's order, w<i>_<p> the wire into input p of n<i>, c<k> the k-th collapsed cluster box,
// out<k> the wire out of the k-th output.
"use strict";

(function () {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);

  const app = {
    graph: null, // GET /api/graph
    state: null, // the last state from the server
    selection: null, // {type: "node" | "wire" | "box" | "cluster", ...}
    detail: null, // the selection's full payload
    steps: null, // {captions} while stepping
    step: 0,
    check: null, // the last gradient check
    view: { x: 0, y: 0, k: 1 },
    fitted: false,
    busy: false,
    pending: null, // the latest edit waiting for the one in flight
    element: null, // the element of the selected leaf picked for editing (an index)
  };

  // --- small helpers ---------------------------------------------------------------------------------

  function h(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function svgNode(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    return node;
  }

  // A number as the diagram prints it: a few significant digits; nan and inf arrive as strings.
  function num(x, digits) {
    const d = digits || 4;
    if (x === null || x === undefined) return "–";
    if (typeof x === "string") return x;
    if (typeof x === "boolean") return x ? "true" : "false";
    if (Object.is(x, -0)) return "-0";
    if (Number.isInteger(x) && Math.abs(x) < 1e9) return String(x);
    const a = Math.abs(x);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return x.toExponential(d - 1).replace(/\.?0+e/, "e");
    return String(Number(x.toPrecision(d)));
  }

  // A number in full (what the value really is, to the last digit).
  function full(x) {
    if (typeof x === "number" && Object.is(x, -0)) return "-0";
    return String(x);
  }

  function isFiniteNumber(x) {
    return typeof x === "number" && Number.isFinite(x);
  }

  function shapeText(shape) {
    return shape.length === 0 ? "scalar" : "(" + shape.join(", ") + (shape.length === 1 ? ",)" : ")");
  }

  function indexText(id, index) {
    return index.length ? id + "[" + index.join(", ") + "]" : id;
  }

  function unravel(flat, shape) {
    const index = new Array(shape.length);
    for (let d = shape.length - 1; d >= 0; d--) {
      index[d] = flat % shape[d];
      flat = Math.floor(flat / shape[d]);
    }
    return index;
  }

  function item(index) {
    return app.graph.items[index];
  }

  function lossName() {
    return app.graph.loss === null ? "L" : item(app.graph.loss).id;
  }

  let toastTimer = null;
  function toast(message) {
    const box = $("toast");
    box.textContent = message;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => (box.hidden = true), 7000);
  }

  async function api(method, path, body) {
    const options = { method: method, headers: { Accept: "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    let payload = null;
    try {
      payload = await response.json();
    } catch (error) {
      payload = null;
    }
    if (!response.ok) {
      throw new Error(payload && payload.error ? payload.error : response.status + " " + response.statusText);
    }
    return payload;
  }

  // --- the diagram -----------------------------------------------------------------------------------

  // Graphviz's SVG as a node of this page: parsed as XML (never as HTML), with scripts, styles, foreign
  // content, event handlers and links removed, and Graphviz's internal <title>s (n0, n1 ...) dropped.
  function parseSvg(text) {
    const doc = new DOMParser().parseFromString(text, "image/svg+xml");
    const svg = doc.documentElement;
    if (!svg || svg.nodeName !== "svg" || doc.getElementsByTagName("parsererror").length) {
      throw new Error("the diagram could not be read");
    }
    for (const bad of Array.from(svg.querySelectorAll("script, style, foreignObject, iframe, title"))) {
      bad.remove();
    }
    for (const node of Array.from(svg.querySelectorAll("*"))) {
      for (const attr of Array.from(node.attributes)) {
        const name = attr.name.toLowerCase();
        if (name.startsWith("on") || name === "href" || name === "xlink:href" || name === "style") {
          node.removeAttribute(attr.name);
        }
      }
    }
    return document.importNode(svg, true);
  }

  function labelTexts(root) {
    const texts = new Map();
    for (const g of root.querySelectorAll("g.node, g.edge")) {
      const parts = [];
      for (const t of g.querySelectorAll("text")) if (!t.closest(".badge")) parts.push(t.textContent);
      texts.set(g.id, parts.join("|"));
    }
    return texts;
  }

  function showSvg(text, flash) {
    const canvas = $("canvas");
    const before = flash ? labelTexts(canvas) : null;
    let svg;
    try {
      svg = parseSvg(text);
    } catch (error) {
      toast(error.message);
      return;
    }
    canvas.replaceChildren(svg);
    cropToDrawing(svg);
    // Thin wires are hard to hit: a wide transparent copy of each wire's path takes the clicks.
    for (const g of svg.querySelectorAll("g.edge")) {
      const path = g.querySelector("path");
      if (!path) continue;
      const hit = svgNode("path", { d: path.getAttribute("d"), class: "hit" });
      path.parentNode.insertBefore(hit, path);
    }
    if (before) {
      const after = labelTexts(canvas);
      for (const [id, label] of after) {
        if (before.has(id) && before.get(id) !== label) {
          const g = canvas.querySelector("#" + CSS.escape(id));
          if (g) g.classList.add("changed");
        }
      }
    }
    markSelection();
    drawBadges();
    if (!app.fitted) {
      fit();
      app.fitted = true;
    }
  }

  // The diagram's title and legend (what Graphviz draws straight into the graph, outside every node,
  // wire and cluster: text, a table's lines) and its white backdrop are left out here: the page has its own title bar and
  // legend, and without that long legend line the drawing itself fills the window. The downloads keep
  // them.
  function cropToDrawing(svg) {
    const graph = svg.querySelector("g.graph");
    if (!graph) return;
    for (const child of Array.from(graph.children)) if (child.tagName !== "g") child.remove();
    const box = svg.getBBox();
    if (!box.width || !box.height) return;
    const pad = 18;
    const view = [box.x - pad, box.y - pad, box.width + 2 * pad, box.height + 2 * pad];
    svg.setAttribute("viewBox", view.join(" "));
    svg.setAttribute("width", view[2] + "pt");
    svg.setAttribute("height", view[3] + "pt");
  }

  function svgSize() {
    const svg = $("canvas").querySelector("svg");
    if (!svg) return null;
    return { w: svg.width.baseVal.value, h: svg.height.baseVal.value };
  }

  function applyView() {
    const v = app.view;
    $("canvas").style.transform = "translate(" + v.x + "px, " + v.y + "px) scale(" + v.k + ")";
  }

  // The whole drawing in the window, below the legend, at most 2.2 times its natural size.
  function fit() {
    const size = svgSize();
    if (!size) return;
    const stage = $("stage").getBoundingClientRect();
    const legend = $("legend").getBoundingClientRect();
    const top = legend.bottom - stage.top + 4;
    const width = stage.width - 24;
    const height = stage.height - top - 56; // the zoom buttons sit at the bottom
    const k = Math.min(width / size.w, height / size.h, 2.2);
    app.view.k = Math.max(k, 0.05);
    app.view.x = (stage.width - size.w * app.view.k) / 2;
    app.view.y = top + Math.max(0, (height - size.h * app.view.k) / 2);
    applyView();
  }

  function zoomAt(factor, px, py) {
    const v = app.view;
    const k = Math.min(Math.max(v.k * factor, 0.05), 24);
    v.x = px - (px - v.x) * (k / v.k);
    v.y = py - (py - v.y) * (k / v.k);
    v.k = k;
    applyView();
  }

  function zoomCentre(factor) {
    const stage = $("stage").getBoundingClientRect();
    zoomAt(factor, stage.width / 2, stage.height / 2);
  }

  function setupStage() {
    const stage = $("stage");
    let drag = null;
    stage.addEventListener(
      "wheel",
      (event) => {
        event.preventDefault();
        const rect = stage.getBoundingClientRect();
        zoomAt(Math.exp(-event.deltaY * 0.0015), event.clientX - rect.left, event.clientY - rect.top);
      },
      { passive: false }
    );
    stage.addEventListener("pointerdown", (event) => {
      if (event.button !== 0 || event.target.closest("#zoom")) return;
      drag = { x: event.clientX, y: event.clientY, vx: app.view.x, vy: app.view.y, moved: false };
    });
    stage.addEventListener("pointermove", (event) => {
      if (!drag) return;
      const dx = event.clientX - drag.x;
      const dy = event.clientY - drag.y;
      if (!drag.moved && Math.hypot(dx, dy) < 4) return;
      if (!drag.moved) {
        drag.moved = true;
        stage.setPointerCapture(event.pointerId);
        stage.classList.add("dragging");
      }
      app.view.x = drag.vx + dx;
      app.view.y = drag.vy + dy;
      applyView();
    });
    const end = (event) => {
      if (drag && drag.moved) {
        stage.classList.remove("dragging");
        if (stage.hasPointerCapture(event.pointerId)) stage.releasePointerCapture(event.pointerId);
        app.suppressClick = true;
        setTimeout(() => (app.suppressClick = false), 0);
      }
      drag = null;
    };
    stage.addEventListener("pointerup", end);
    stage.addEventListener("pointercancel", end);
    stage.addEventListener("click", (event) => {
      if (app.suppressClick || event.target.closest("#zoom")) return;
      const g = event.target.closest("g.node, g.edge, g.cluster");
      select(g ? targetOf(g) : null);
    });
    $("zoom-in").addEventListener("click", () => zoomCentre(1.25));
    $("zoom-out").addEventListener("click", () => zoomCentre(0.8));
    $("zoom-fit").addEventListener("click", fit);
    window.addEventListener("resize", () => {
      if (app.fitted) fit();
    });
  }

  // What a click on an SVG group selects, from its id alone.
  function targetOf(g) {
    const id = g.id;
    let m;
    if ((m = /^n(\d+)(?:_\d+)?$/.exec(id))) return { type: "node", index: Number(m[1]) };
    if ((m = /^w(\d+)_(\d+)$/.exec(id))) return { type: "wire", index: Number(m[1]), position: Number(m[2]) };
    if ((m = /^c(\d+)$/.exec(id))) return { type: "box", index: Number(m[1]) };
    if ((m = /^out(\d+)$/.exec(id))) {
      const end = app.graph.ends[Number(m[1])];
      return end === undefined ? null : { type: "node", index: end };
    }
    if ((m = /^([nc])(\d+)_([nc])(\d+)$/.exec(id))) {
      // the wires between collapsed boxes: the box they come from
      return m[1] === "c" ? { type: "box", index: Number(m[2]) } : { type: "box", index: Number(m[4]) };
    }
    if (g.classList.contains("cluster")) return clusterAt(g);
    return null;
  }

  // An expanded cluster's frame carries no graphdiff id: it is the cluster whose drawn members all lie
  // inside the frame, the largest such (a frame holds its sub-clusters too).
  function clusterAt(g) {
    const box = g.getBBox();
    const inside = (b) =>
      b.x >= box.x - 1 && b.y >= box.y - 1 && b.x + b.width <= box.x + box.width + 1 && b.y + b.height <= box.y + box.height + 1;
    let best = null;
    for (const cluster of app.graph.clusters) {
      if (app.state.boxes.includes(cluster.name)) continue;
      const members = app.graph.items.filter((it) => inCluster(it, cluster.name));
      const drawn = members.map((it) => $("canvas").querySelector("#n" + it.index)).filter(Boolean);
      if (!drawn.length || !drawn.every((node) => inside(node.getBBox()))) continue;
      if (!best || cluster.size > best.size) best = cluster;
    }
    return best ? { type: "cluster", name: best.name } : null;
  }

  function inCluster(it, name) {
    return it.cluster !== null && (it.cluster === name || it.cluster.startsWith(name + "/"));
  }

  function markSelection() {
    const canvas = $("canvas");
    for (const g of canvas.querySelectorAll(".selected")) g.classList.remove("selected");
    const s = app.selection;
    if (!s) return;
    let ids = [];
    if (s.type === "node") {
      ids = ["n" + s.index];
      for (const copy of canvas.querySelectorAll("g.node[id^='n" + s.index + "_']")) ids.push(copy.id);
    } else if (s.type === "wire") ids = ["w" + s.index + "_" + s.position];
    else if (s.type === "box") ids = ["c" + s.index];
    for (const id of ids) {
      const g = canvas.querySelector("#" + CSS.escape(id));
      if (g) g.classList.add("selected");
    }
  }

  // Gradient-check badges: a pass or fail tag with the relative error above each checked leaf.
  function drawBadges() {
    const canvas = $("canvas");
    for (const badge of canvas.querySelectorAll(".badge")) badge.remove();
    const check = app.check;
    if (!check || !app.state || check.version !== app.state.version || app.steps) return;
    for (const row of check.rows) {
      const g = canvas.querySelector("#n" + row.index);
      if (!g) continue;
      const box = g.getBBox();
      const label = (row.passed ? "✓ " : "✗ ") + num(row.max_error, 2);
      const badge = svgNode("g", { class: row.passed ? "badge" : "badge fail" });
      const width = 8 + label.length * 5.4;
      const x = box.x + box.width - width + 6;
      const y = box.y - 12;
      badge.append(svgNode("rect", { x: x, y: y, width: width, height: 12, rx: 6 }));
      const text = svgNode("text", { x: x + width / 2, y: y + 9, "text-anchor": "middle" });
      text.textContent = label;
      badge.append(text);
      g.append(badge);
    }
  }

  // --- state from the server ---------------------------------------------------------------------

  function applyState(state, flash) {
    const previous = app.state;
    app.state = state;
    if (!app.steps) showSvg(state.svg, flash);
    const box = $("loss-box");
    if (state.loss) {
      box.hidden = false;
      $("loss-id").textContent = item(state.loss.index).id;
      const value = num(state.loss.value, 6);
      if (previous && previous.loss && num(previous.loss.value, 6) !== value) {
        box.classList.remove("changed");
        void box.offsetWidth; // restart the animation
        box.classList.add("changed");
      }
      $("loss-value").textContent = value;
    } else box.hidden = true;
    $("reset").disabled = !state.edited.length && !rowsChanged(state);
    $("notes").replaceChildren(...state.notes.map((note) => h("div", {}, note)));
  }

  function rowsChanged(state) {
    return state.rows !== null && app.initialRows && state.rows.join(",") !== app.initialRows.join(",");
  }

  function setBusy(on) {
    $("busy").hidden = !on;
  }

  // Edits go one at a time; while one is computed only the latest of those made meanwhile waits, so a
  // slider dragged fast never queues up stale values.
  async function send(path, body) {
    if (app.busy) {
      app.pending = { path: path, body: body };
      return;
    }
    app.busy = true;
    setBusy(true);
    try {
      const state = await api("POST", path, body);
      leaveSteps(false);
      applyState(state, true);
      await refreshDetail();
      if (!app.pending && $("check-auto").checked && app.graph.loss !== null) await runCheck(true);
    } catch (error) {
      toast(error.message);
    } finally {
      app.busy = false;
      setBusy(false);
      if (app.pending) {
        const next = app.pending;
        app.pending = null;
        send(next.path, next.body);
      }
    }
  }

  async function runCheck(quiet) {
    try {
      app.check = await api("POST", "/api/check", {});
    } catch (error) {
      if (!quiet) toast(error.message);
      return;
    }
    drawBadges();
    renderPanel();
  }

  // --- selection and the panel --------------------------------------------------------------------

  async function select(target) {
    app.selection = target;
    app.element = null;
    app.detail = null;
    markSelection();
    await refreshDetail(true);
  }

  async function refreshDetail(rebuild) {
    const s = app.selection;
    let path = null;
    if (s && s.type === "node") path = "/api/node/" + s.index;
    else if (s && s.type === "wire") path = "/api/wire/" + s.index + "/" + s.position;
    else if (s && s.type === "box") path = "/api/box/" + s.index;
    if (path) {
      try {
        app.detail = await api("GET", path);
      } catch (error) {
        app.selection = null;
        app.detail = null;
        toast(error.message);
      }
    }
    renderPanel(rebuild);
  }

  function renderPanel(rebuild) {
    const panel = $("panel");
    const s = app.selection;
    // Keep the editor of the selected leaf while its values update (a slider being dragged stays put).
    const editor = !rebuild && panel.querySelector(".editor[data-index]");
    let content;
    let shown = s;
    if (!s) content = overview();
    else if (s.type === "node" && app.detail) content = nodePanel(app.detail);
    else if (s.type === "wire" && app.detail) content = wirePanel(app.detail);
    else if (s.type === "box" && app.detail) content = boxPanel(app.detail);
    else if (s.type === "cluster") content = clusterPanel(s.name);
    else {
      content = overview();
      shown = null;
    }
    const scroll = panel.scrollTop;
    panel.replaceChildren(...content);
    panel.dataset.selection = selectionKey(shown);
    if (editor) {
      const fresh = panel.querySelector(".editor[data-index]");
      if (fresh && fresh.dataset.key === editor.dataset.key) {
        fresh.replaceWith(editor);
        updateEditor(editor);
      }
    }
    panel.scrollTop = scroll;
  }

  // The SVG id of what the panel shows ("" for the overview), for whoever drives the page.
  function selectionKey(s) {
    if (!s) return "";
    if (s.type === "node") return "n" + s.index;
    if (s.type === "wire") return "w" + s.index + "_" + s.position;
    if (s.type === "box") return "c" + s.index;
    return "cluster:" + s.name;
  }

  function closeButton() {
    return h("button", { type: "button", class: "close", title: "Close (Esc)", onclick: () => select(null) }, "×");
  }

  function link(index, text) {
    return h(
      "button",
      { type: "button", class: "link", onclick: () => select({ type: "node", index: index }) },
      text === undefined ? item(index).id : text
    );
  }

  function chip(kind, text) {
    return h("span", { class: "chip " + kind }, text || kind);
  }

  // A section heading: a small upper-case word, then ids as they are written (ids are case-sensitive).
  function heading(role, word, rest) {
    return h("h3", { class: role }, h("span", { class: "word" }, word), rest ? h("span", { class: "rest" }, rest) : null);
  }

  function gradRest(id) {
    return "∂" + lossName() + "/∂" + id;
  }

  function overview() {
    const g = app.graph;
    const state = app.state;
    const parts = [h("h2", { class: "title" }, g.name)];
    if (g.description) parts.push(h("p", { class: "desc" }, g.description));
    parts.push(
      h(
        "p",
        { class: "hint" },
        "Click a gate, a box or a wire to see its full value and gradient; click a leaf to edit it. " +
          "Drag to pan, scroll to zoom."
      )
    );
    const leaves = g.items.filter((it) => it.editable);
    parts.push(h("h3", {}, "Leaves"), itemList(leaves.map((it) => it.index), true));
    const outputs = g.outputs.filter((i) => i !== g.loss);
    if (outputs.length) parts.push(h("h3", {}, "Outputs"), itemList(outputs, false));
    if (g.data) parts.push(...rowsPicker());
    if (g.clusters.length) parts.push(h("h3", {}, "Clusters"), clusterList());
    parts.push(h("h3", {}, "Gradient check"), checkSummary());
    return parts;
  }

  function brief(summary) {
    if (summary === null || summary === undefined) return "";
    if (typeof summary !== "object") return num(summary);
    const stats = summary.stats;
    const shape = shapeText(summary.shape);
    if (!stats || stats.min === undefined) return shape;
    return shape + "  ‖·‖ " + num(stats.norm, 3);
  }

  function clusterList() {
    const collapsed = new Set(app.state.collapse);
    const rows = app.graph.clusters.map((cluster) => {
      const on = collapsed.has(cluster.name);
      const depth = cluster.name.split("/").length - 1;
      return h(
        "tr",
        {},
        h("td", {}, h("span", { class: "chip cluster" }, "  ".repeat(depth) + cluster.name), " ", h("span", { class: "note" }, cluster.size + " nodes")),
        h(
          "td",
          { class: "num" },
          h(
            "button",
            { type: "button", class: "link", "data-cluster": cluster.name, onclick: () => toggleCluster(cluster.name, !on) },
            on ? "expand" : "collapse"
          )
        )
      );
    });
    return h("table", { class: "list clusters" }, rows);
  }

  async function toggleCluster(name, collapse) {
    const names = app.state.collapse.filter((n) => n !== name);
    if (collapse) names.push(name);
    try {
      const state = await api("POST", "/api/view", { collapse: names });
      if (app.selection && (app.selection.type === "box" || app.selection.type === "cluster")) app.selection = null;
      applyState(state, false);
      if (app.steps) await showStep(app.step);
      renderPanel(true);
    } catch (error) {
      toast(error.message);
    }
  }

  function checkSummary() {
    const check = app.check;
    const wrap = h("div", {});
    if (app.graph.loss === null) {
      wrap.append(h("p", { class: "note" }, "The graph has no loss: there is no gradient to check."));
      return wrap;
    }
    if (!check) {
      wrap.append(h("p", { class: "note" }, "Not run yet: press Check gradients."));
      return wrap;
    }
    const stale = check.version !== app.state.version;
    wrap.append(
      h(
        "p",
        {},
        h("span", { class: check.passed ? "check-ok" : "check-fail" }, check.passed ? "passed" : "FAILED"),
        " — max relative error " + num(check.max_error, 3) + " (tolerance " + num(check.tolerance) + ", " + check.mode + ")",
        stale ? h("span", { class: "note" }, " — before the last edit") : null
      )
    );
    const rows = check.rows.map((row) =>
      h(
        "tr",
        {},
        h("td", {}, link(row.index)),
        h("td", { class: "num", title: row.at_kinks ? row.at_kinks + " at kinks, not checkable by differences" : null }, row.checked + "/" + row.size + (row.at_kinks ? " (" + row.at_kinks + " at kinks)" : "")),
        h("td", { class: "num" }, num(row.max_error, 2)),
        h("td", { class: "num" }, h("span", { class: row.passed ? "check-ok" : "check-fail" }, row.passed ? "ok" : "FAIL"))
      )
    );
    wrap.append(h("table", { class: "list" }, rows));
    if (!check.passed) {
      wrap.append(
        h(
          "p",
          { class: "note" },
          "Near kinks (relu close to 0, nearly tied maxima) differences are unreliable: with data, " +
            "check fewer examples (pick fewer rows)."
        )
      );
    }
    return wrap;
  }

  function rowsPicker() {
    const data = app.graph.data;
    const rows = app.state.rows || [];
    const input = h("input", { type: "text", id: "rows-input", value: rowsText(rows), title: "rows such as 0:4, 7 or 1,5,9" });
    const apply = () => {
      const picked = parseRows(input.value, data.size);
      if (typeof picked === "string") {
        input.classList.add("bad");
        toast(picked);
        return;
      }
      send("/api/rows", { rows: picked });
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") apply();
    });
    const shift = (by) => {
      const count = rows.length || 1;
      const start = Math.min(Math.max((rows[0] || 0) + by * count, 0), Math.max(data.size - count, 0));
      send("/api/rows", { rows: Array.from({ length: count }, (_, i) => start + i) });
    };
    return [
      h("h3", {}, "Data rows"),
      h(
        "div",
        { class: "editor", "data-key": "rows" },
        h("p", { class: "meta" }, data.name + ": " + data.size.toLocaleString() + " examples; the inputs hold rows " + rowsText(rows)),
        h(
          "div",
          { class: "row" },
          input,
          h("button", { type: "button", onclick: apply }, "Feed"),
          h("button", { type: "button", class: "plain", title: "the rows before", onclick: () => shift(-1) }, "◀"),
          h("button", { type: "button", class: "plain", title: "the rows after", onclick: () => shift(1) }, "▶")
        )
      ),
    ];
  }

  function rowsText(rows) {
    if (!rows.length) return "";
    const consecutive = rows.every((r, i) => r === rows[0] + i);
    return consecutive && rows.length > 1 ? rows[0] + ":" + (rows[rows.length - 1] + 1) : rows.join(",");
  }

  function parseRows(text, size) {
    const rows = [];
    for (const part of text.split(",")) {
      const m = /^\s*(\d+)\s*(?::\s*(\d+)\s*)?$/.exec(part);
      if (!m) return "rows are written 0:4, 7 or 1,5,9";
      const start = Number(m[1]);
      const stop = m[2] === undefined ? start + 1 : Number(m[2]);
      for (let r = start; r < stop && rows.length <= app.graph.limits.rows; r++) rows.push(r);
    }
    if (!rows.length) return "no rows picked";
    if (rows.length > app.graph.limits.rows) return "at most " + app.graph.limits.rows + " rows at once";
    if (rows.some((r) => r >= size)) return "rows run from 0 to " + (size - 1);
    return rows;
  }

  function nodePanel(d) {
    const it = item(d.index);
    const isLoss = app.graph.loss === d.index;
    const parts = [closeButton()];
    const kinds = [chip(it.kind === "node" ? "node" : it.kind, it.kind === "node" ? it.op : it.kind)];
    if (isLoss) kinds.push(" ", chip("loss"));
    if (it.cluster) kinds.push(" ", h("span", { class: "chip cluster" }, it.cluster));
    parts.push(h("div", {}, kinds));
    parts.push(h("h2", {}, it.id));
    parts.push(h("div", { class: "meta" }, shapeText(d.value.shape) + " · " + d.value.dtype));
    if (it.description) parts.push(h("p", { class: "desc" }, it.description));
    if (it.kind === "node") {
      const args = [];
      d.inputs.forEach((input, p) => {
        if (p) args.push(", ");
        args.push(link(input));
      });
      parts.push(h("div", { class: "formula" }, it.id + " = " + it.op + "(", args, ")"));
    }
    parts.push(heading("value", "value"));
    parts.push(arrayView(d.value, d.grad, "value", it));
    parts.push(heading("grad", "gradient", gradRest(it.id)));
    if (d.grad) parts.push(arrayView(d.grad, d.value, "grad", it));
    else parts.push(h("p", { class: "note" }, d.grad_note || "no gradient"));
    if (d.grad && d.grad.shape.length === 0 && isFiniteNumber(d.grad.data[0]) && d.index !== app.graph.loss) {
      // What the number means, in the lecture's words: the rate at which the loss follows this value.
      parts.push(
        h("p", { class: "note" }, "Nudge " + it.id + " up by a small ε and " + lossName() + " moves by about " + num(d.grad.data[0]) + " ε.")
      );
    }
    if (d.consumers.length > 1 && d.grad) {
      parts.push(h("p", { class: "note" }, "It feeds " + d.consumers.length + " gates: its gradient is the sum of what flows back along each wire (Σ∇)."));
    }
    if (it.editable) parts.push(editorFor(it, d));
    if (it.editable && app.check && app.check.version === app.state.version) {
      const row = app.check.rows.find((r) => r.index === d.index);
      if (row) {
        parts.push(h("h3", {}, "Gradient check"));
        parts.push(
          h(
            "p",
            {},
            h("span", { class: row.passed ? "check-ok" : "check-fail" }, row.passed ? "passed" : "FAILED"),
            " — relative error " +
              num(row.max_error, 3) +
              (row.size === 1 ? "" : " over " + row.checked + " of " + row.size + " coordinates, the worst at " + indexText(it.id, row.where)) +
              ": backward " +
              num(row.analytic, 6) +
              ", centered difference " +
              num(row.numeric, 6) +
              (row.at_kinks ? "; " + row.at_kinks + " coordinates within h of a kink, where differences cannot check it, were counted, not compared" : "")
          )
        );
      }
    }
    if (d.consumers.length) {
      const used = [];
      d.consumers.forEach((c, i) => {
        if (i) used.push(", ");
        used.push(link(c));
      });
      parts.push(h("h3", {}, "Feeds"), h("div", {}, used));
    }
    return parts;
  }

  function wirePanel(d) {
    const source = item(d.source);
    const consumer = item(d.consumer);
    const parts = [closeButton(), h("div", {}, chip("node", "wire"))];
    parts.push(h("h2", {}, source.id + " → " + consumer.id));
    parts.push(
      h("div", { class: "meta" }, "input ", h("b", {}, d.input_name), " of ", link(d.consumer), " (" + consumer.op + "), from ", link(d.source))
    );
    parts.push(heading("value", "value flowing forward"));
    parts.push(arrayView(d.value, d.grad, "value", source));
    parts.push(heading("grad", "gradient flowing back", gradRest(source.id) + " along this wire"));
    if (d.grad) parts.push(arrayView(d.grad, d.value, "grad", source));
    else parts.push(h("p", { class: "note" }, d.grad_note || "no gradient along this wire"));
    if (d.fan_out > 1) {
      parts.push(h("p", { class: "note" }, source.id + " feeds " + d.fan_out + " gates; its gradient is the sum over its wires."));
    }
    return parts;
  }

  function boxPanel(d) {
    const parts = [closeButton(), h("div", {}, chip("cluster", "collapsed cluster"))];
    parts.push(h("h2", {}, d.name));
    parts.push(h("div", { class: "meta" }, d.members.length + " nodes drawn as one box"));
    if (d.grad_norm !== null) {
      parts.push(heading("grad", "gradient norm of its members"), h("div", { class: "big grad" }, num(d.grad_norm, 6)));
    }
    parts.push(h("p", {}, h("button", { type: "button", class: "link", onclick: () => toggleCluster(d.name, false) }, "expand this cluster")));
    parts.push(h("h3", {}, "Members"), memberList(d.members));
    return parts;
  }

  function clusterPanel(name) {
    const members = app.graph.items.filter((it) => inCluster(it, name)).map((it) => it.index);
    const parts = [closeButton(), h("div", {}, chip("cluster", "cluster"))];
    parts.push(h("h2", {}, name));
    parts.push(h("div", { class: "meta" }, members.length + " nodes"));
    parts.push(h("p", {}, h("button", { type: "button", class: "link", onclick: () => toggleCluster(name, true) }, "collapse this cluster")));
    parts.push(h("h3", {}, "Members"), memberList(members));
    return parts;
  }

  function memberList(indices) {
    return itemList(indices, false);
  }

  // Leaves, outputs or a cluster's members: each id (a link) with its kind, then its value and gradient
  // in brief, and its gradient check when there is one.
  function itemList(indices, withCheck) {
    const state = app.state;
    const check = withCheck && app.check && app.check.version === state.version ? app.check : null;
    return h(
      "div",
      { class: "items" },
      indices.map((i) => {
        const it = item(i);
        const summary = state.items[i];
        const row = check ? check.rows.find((r) => r.index === i) : null;
        return h(
          "div",
          { class: "item" },
          h(
            "div",
            { class: "item-head" },
            link(i),
            " ",
            chip(it.kind === "node" ? "node" : it.kind, it.kind === "node" ? it.op : it.kind),
            row ? h("span", { class: row.passed ? "check-ok" : "check-fail", title: "gradient check" }, row.passed ? " ✓ " + num(row.max_error, 2) : " ✗ " + num(row.max_error, 2)) : null
          ),
          h(
            "div",
            { class: "item-nums" },
            h("span", { class: "v" }, brief(summary.value)),
            summary.grad === null ? null : h("span", { class: "g" }, "∇ " + brief(summary.grad))
          )
        );
      })
    );
  }

  // --- arrays: numbers, tables, heat maps, images ---------------------------------------------------

  // One array (a value or a gradient), with its partner (the gradient of the value, or the value of the
  // gradient) for the read-out under the cursor.
  function arrayView(payload, partner, role, it) {
    const wrap = h("div", { class: "array " + role });
    const shape = payload.shape;
    if (payload.size === 0) {
      wrap.append(h("p", { class: "note" }, "empty " + shapeText(shape)));
      return wrap;
    }
    if (shape.length === 0 && payload.data) {
      wrap.append(h("div", { class: "big " + role, title: full(payload.data[0]) }, num(payload.data[0], 6)));
      if (typeof payload.data[0] === "number" && num(payload.data[0], 6) !== full(payload.data[0])) {
        wrap.append(h("div", { class: "stats" }, "= " + full(payload.data[0])));
      }
      return wrap;
    }
    wrap.append(statsLine(payload, role));
    if (!payload.data) {
      wrap.append(h("p", { class: "note" }, payload.note));
      return wrap;
    }
    const readout = h("div", { class: "readout" }, "\u00a0");
    const hover = (flat) => showReadout(readout, flat, payload, partner, role, it);
    const pick = it.editable ? (flat) => pickElement(it, flat) : null;
    if (payload.size <= 64 && shape.length <= 2) wrap.append(numberTable(payload, role, hover, pick));
    if (payload.size > 8 || shape.length > 2) wrap.append(heatView(payload, role, it, hover, pick));
    wrap.append(readout);
    if (payload.size > 64 || shape.length > 2) wrap.append(allNumbers(payload, role, it));
    return wrap;
  }

  const ALL_NUMBERS = 4096;

  // Every number of a larger array, one row per index of all but its last axis, made when opened.
  function allNumbers(payload, role, it) {
    const shape = payload.shape;
    const details = h("details", { class: "all-numbers" }, h("summary", {}, "all " + payload.size.toLocaleString() + " numbers"));
    if (payload.size > ALL_NUMBERS) {
      details.append(h("p", { class: "note" }, "More than " + ALL_NUMBERS.toLocaleString() + ": point at the heat map to read one."));
      return details;
    }
    details.addEventListener(
      "toggle",
      () => {
        if (!details.open || details.querySelector("table")) return;
        const cols = shape[shape.length - 1];
        const lead = shape.slice(0, -1);
        const table = h("table", { class: "numbers " + role });
        table.append(h("tr", {}, h("th", {}), Array.from({ length: cols }, (_, j) => h("th", {}, j))));
        for (let r = 0; r * cols < payload.size; r++) {
          const index = unravel(r, lead);
          const cells = [h("th", {}, "[" + index.concat([":"]).join(", ") + "]")];
          for (let j = 0; j < cols; j++) {
            const x = payload.data[r * cols + j];
            cells.push(h("td", { title: indexText(it.id, index.concat([j])) + " = " + full(x) }, num(x, 4)));
          }
          table.append(h("tr", {}, cells));
        }
        details.append(h("div", { class: "scroll tall" }, table));
      },
      { once: false }
    );
    return details;
  }

  function statsLine(payload, role) {
    const s = payload.stats;
    if (!s) return h("div", { class: "stats" }, payload.dtype);
    const parts = [];
    if (s.min !== undefined) {
      parts.push("min " + num(s.min), "mean " + num(s.mean), "max " + num(s.max), "‖·‖ " + num(s.norm));
    }
    if (s.nonfinite) parts.push(s.nonfinite + " not finite");
    return h("div", { class: "stats " + role }, parts.join("   "));
  }

  function showReadout(readout, flat, payload, partner, role, it) {
    const index = unravel(flat, payload.shape);
    const value = payload.data[flat];
    const other = partner && partner.data && partner.size === payload.size ? partner.data[flat] : undefined;
    const v = role === "value" ? value : other;
    const g = role === "grad" ? value : other;
    readout.replaceChildren(
      indexText(it.id, index) + "  ",
      v !== undefined ? h("span", { class: "v" }, "value " + full(v)) : "",
      v !== undefined && g !== undefined ? "   " : "",
      g !== undefined ? h("span", { class: "g" }, "∇ " + full(g)) : ""
    );
  }

  function numberTable(payload, role, hover, pick) {
    const shape = payload.shape;
    const rows = shape.length === 2 ? shape[0] : 1;
    const cols = shape.length === 2 ? shape[1] : shape[0];
    const table = h("table", { class: "numbers " + role });
    if (shape.length === 1 || cols > 1) {
      table.append(h("tr", {}, shape.length === 2 ? h("th", {}) : null, Array.from({ length: cols }, (_, j) => h("th", {}, j))));
    }
    for (let i = 0; i < rows; i++) {
      const cells = [];
      if (shape.length === 2) cells.push(h("th", {}, i));
      for (let j = 0; j < cols; j++) {
        const flat = i * cols + j;
        const x = payload.data[flat];
        cells.push(
          h(
            "td",
            { title: full(x), onmouseenter: () => hover(flat), onclick: pick ? () => pick(flat) : null },
            num(x, 4)
          )
        );
      }
      table.append(h("tr", {}, cells));
    }
    return h("div", { class: "scroll" }, table);
  }

  function numbers(payload) {
    return payload.data.map((x) => (typeof x === "number" ? x : typeof x === "boolean" ? Number(x) : x === "nan" ? NaN : x === "inf" ? Infinity : -Infinity));
  }

  // The colour of x on the array's scale: non-negative arrays (images, activations after relu) as ink on
  // paper, signed ones purple below zero and orange above (red and green stay the diagram's).
  function colourScale(values, signed) {
    let m = 0;
    for (const x of values) if (Number.isFinite(x)) m = Math.max(m, Math.abs(x));
    if (m === 0) m = 1;
    return {
      m: m,
      signed: signed,
      rgb(x) {
        if (!Number.isFinite(x)) return [233, 30, 99];
        if (!signed) {
          const t = Math.min(Math.max(x / m, 0), 1);
          return [Math.round(255 - t * 217), Math.round(255 - t * 205), Math.round(255 - t * 199)];
        }
        const t = Math.max(-1, Math.min(1, x / m));
        const end = t < 0 ? [84, 39, 136] : [179, 88, 6];
        const a = Math.abs(t);
        return [0, 1, 2].map((c) => Math.round(247 + (end[c] - 247) * a));
      },
    };
  }

  function heatCanvas(values, offset, rows, cols, cell, scale, hover, pick) {
    const canvas = h("canvas", { class: "heat", width: cols, height: rows });
    canvas.style.width = cols * cell + "px";
    canvas.style.height = rows * cell + "px";
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(cols, rows);
    for (let i = 0; i < rows * cols; i++) {
      const [r, g, b] = scale.rgb(values[offset + i]);
      image.data.set([r, g, b, 255], i * 4);
    }
    ctx.putImageData(image, 0, 0);
    const at = (event) => {
      const rect = canvas.getBoundingClientRect();
      const j = Math.min(cols - 1, Math.max(0, Math.floor(((event.clientX - rect.left) / rect.width) * cols)));
      const i = Math.min(rows - 1, Math.max(0, Math.floor(((event.clientY - rect.top) / rect.height) * rows)));
      return offset + i * cols + j;
    };
    canvas.addEventListener("mousemove", (event) => hover(at(event)));
    if (pick) canvas.addEventListener("click", (event) => pick(at(event)));
    return canvas;
  }

  function scaleBar(scale) {
    const bar = h("canvas", { width: 60, height: 1 });
    const ctx = bar.getContext("2d");
    const image = ctx.createImageData(60, 1);
    for (let i = 0; i < 60; i++) {
      const x = scale.signed ? ((i / 59) * 2 - 1) * scale.m : (i / 59) * scale.m;
      image.data.set([...scale.rgb(x), 255], i * 4);
    }
    ctx.putImageData(image, 0, 0);
    return h("div", { class: "scale" }, scale.signed ? num(-scale.m, 3) : "0", bar, num(scale.m, 3));
  }

  const PANEL_WIDTH = 360;

  function heatView(payload, role, it, hover, pick) {
    const shape = payload.shape;
    const values = numbers(payload);
    const signed = role === "grad" || values.some((x) => x < 0);
    const scale = colourScale(values, signed);
    const wrap = h("div", {});
    if (shape.length <= 2) {
      let rows = shape.length === 2 ? shape[0] : 1;
      let cols = shape.length === 2 ? shape[1] : shape[0];
      let note = null;
      if (shape.length === 1 && cols > 64) {
        // a long vector wraps into rows of 64, which the note says
        rows = Math.ceil(cols / 64);
        cols = 64;
        note = "row r holds elements 64r to 64r + 63";
      }
      const cell = Math.max(1, Math.min(28, Math.floor(PANEL_WIDTH / cols), Math.floor(420 / rows)));
      const padded = values.concat(new Array(rows * cols - values.length).fill(NaN));
      wrap.append(heatCanvas(padded, 0, rows, cols, cell, scale, (flat) => flat < payload.size && hover(flat), pick && ((flat) => flat < payload.size && pick(flat))));
      if (note) wrap.append(h("div", { class: "note" }, note));
    } else if (shape.length === 3 || shape.length === 4) {
      wrap.append(imageGrid(values, shape, scale, it, hover, pick));
    } else {
      const cols = Math.min(payload.size, 64);
      const rows = Math.ceil(payload.size / cols);
      const padded = values.concat(new Array(rows * cols - values.length).fill(NaN));
      const cell = Math.max(1, Math.min(12, Math.floor(PANEL_WIDTH / cols)));
      wrap.append(heatCanvas(padded, 0, rows, cols, cell, scale, (flat) => flat < payload.size && hover(flat), null));
      wrap.append(h("div", { class: "note" }, "flattened in C order, 64 to a row"));
    }
    wrap.append(scaleBar(scale));
    return wrap;
  }

  // A 3-D array as one image per leading index; a 4-D one (NCHW activations, OIHW kernels) as a grid:
  // a row per sample (or output channel), an image per channel.
  function imageGrid(values, shape, scale, it, hover, pick) {
    if (shape.length === 4 && shape[1] === 1) return imageRow(values, shape, scale, it.kind === "parameter" ? "out " : "n ", hover, pick);
    const four = shape.length === 4;
    const [n, c, hgt, wid] = four ? shape : [1, shape[0], shape[1], shape[2]];
    const kernel = four && it.kind === "parameter";
    const maxRows = 8;
    const maxCols = four ? 16 : 12;
    const rows = Math.min(n, maxRows);
    const cols = Math.min(c, maxCols);
    const size = Math.max(4, Math.min(96, Math.floor((PANEL_WIDTH - 40) / cols) - 4));
    const cell = Math.max(1, Math.floor(size / Math.max(hgt, wid)));
    const grid = h("div", { class: "heat-grid" });
    grid.style.gridTemplateColumns = (four ? "max-content " : "") + "repeat(" + cols + ", max-content)";
    if (four) {
      grid.append(h("div", { class: "cap" }, ""));
      for (let j = 0; j < cols; j++) grid.append(h("div", { class: "cap" }, (kernel ? "in " : "ch ") + j));
    }
    for (let i = 0; i < rows; i++) {
      if (four) grid.append(h("div", { class: "cap" }, (kernel ? "out " : "n ") + i));
      for (let j = 0; j < cols; j++) {
        const offset = ((i * c + j) * hgt) * wid;
        const canvas = heatCanvas(values, offset, hgt, wid, cell, scale, hover, pick);
        if (!four) grid.append(h("div", {}, h("div", { class: "cap" }, "[" + j + "]"), canvas));
        else grid.append(canvas);
      }
    }
    const wrap = h("div", {}, grid);
    const hidden = [];
    if (n > rows) hidden.push(n - rows + (kernel ? " output channels" : " samples"));
    if (c > cols) hidden.push(c - cols + (four ? (kernel ? " input channels" : " channels") : " slices"));
    if (hidden.length) wrap.append(h("div", { class: "note" }, "not shown: " + hidden.join(", ")));
    return wrap;
  }

  // One-channel images (a batch of digits, the filters of a first convolution) side by side, a caption
  // over each.
  function imageRow(values, shape, scale, caption, hover, pick) {
    const [n, , hgt, wid] = shape;
    const shown = Math.min(n, 32);
    const perRow = Math.min(shown, 8);
    const cell = Math.max(1, Math.floor((PANEL_WIDTH / perRow - 10) / Math.max(hgt, wid)));
    const grid = h("div", { class: "heat-grid" });
    grid.style.gridTemplateColumns = "repeat(" + perRow + ", max-content)";
    for (let i = 0; i < shown; i++) {
      const canvas = heatCanvas(values, i * hgt * wid, hgt, wid, Math.min(cell, 12), scale, hover, pick);
      grid.append(h("div", {}, h("div", { class: "cap" }, caption + i), canvas));
    }
    const wrap = h("div", {}, grid);
    if (n > shown) wrap.append(h("div", { class: "note" }, "not shown: " + (n - shown) + (caption === "n " ? " samples" : " filters")));
    return wrap;
  }

  // --- editing leaves --------------------------------------------------------------------------------

  function parseNumber(text, dtype) {
    const trimmed = text.trim();
    if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(trimmed)) return null;
    const x = Number(trimmed);
    if (!Number.isFinite(x)) return null;
    if (dtype === "int64" && !Number.isInteger(x)) return null;
    return x;
  }

  function editorFor(it, d) {
    const payload = d.value;
    const key = "leaf-" + it.index + "-" + payload.shape.join("x");
    const box = h("div", { class: "editor", "data-key": key, "data-index": it.index });
    box.append(heading("", "edit", it.id));
    const numeric = payload.dtype.startsWith("float") || payload.dtype === "int64";
    if (!numeric || !payload.data) {
      box.append(h("p", { class: "note" }, numeric ? "too large to edit here" : payload.dtype + " values are not edited here"));
      return box;
    }
    if (payload.shape.length === 0) box.append(...scalarEditor(it, payload));
    else if (payload.size <= app.graph.limits.edit_elements && payload.size <= 48 && payload.shape.length <= 2) {
      box.append(...tableEditor(it, payload));
    }
    box.append(...elementEditor(it, payload));
    return box;
  }

  function scalarEditor(it, payload) {
    const x = payload.data[0];
    const int = payload.dtype === "int64";
    const input = h("input", { type: "text", class: "scalar-input", value: full(x), inputmode: "decimal", "aria-label": it.id });
    const span = Math.max(2, 2 * Math.abs(typeof x === "number" ? x : 0));
    const centre = typeof x === "number" ? x : 0;
    const slider = h("input", {
      type: "range",
      class: "scalar-slider",
      min: int ? Math.floor(centre - span) : centre - span,
      max: int ? Math.ceil(centre + span) : centre + span,
      step: int ? 1 : span / 200,
      value: centre,
      "aria-label": it.id + " slider",
    });
    const submit = (value) => send("/api/leaf", { id: it.id, value: value });
    const apply = () => {
      const value = parseNumber(input.value, payload.dtype);
      if (value === null) {
        input.classList.add("bad");
        toast(it.id + ": " + (int ? "a whole number" : "a finite number") + ", please");
        return;
      }
      input.classList.remove("bad");
      submit(value);
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") apply();
    });
    slider.addEventListener("input", () => {
      const value = int ? Math.round(Number(slider.value)) : Number(Number(slider.value).toPrecision(6));
      input.value = String(value);
      submit(value);
    });
    return [
      h("div", { class: "row" }, h("span", { class: "formula" }, it.id + " ="), input, h("button", { type: "button", onclick: apply }, "Set")),
      slider,
      h("div", { class: "note" }, "Enter or Set applies; drag the slider to watch every value and gradient follow."),
    ];
  }

  function tableEditor(it, payload) {
    const shape = payload.shape;
    const rows = shape.length === 2 ? shape[0] : 1;
    const cols = shape.length === 2 ? shape[1] : shape[0];
    const inputs = [];
    const table = h("table", { class: "numbers" });
    for (let i = 0; i < rows; i++) {
      const cells = [];
      for (let j = 0; j < cols; j++) {
        const input = h("input", { type: "text", value: full(payload.data[i * cols + j]), "aria-label": indexText(it.id, shape.length === 2 ? [i, j] : [j]) });
        inputs.push(input);
        cells.push(h("td", {}, input));
      }
      table.append(h("tr", {}, cells));
    }
    const apply = () => {
      const flat = [];
      let ok = true;
      for (const input of inputs) {
        const x = parseNumber(input.value, payload.dtype);
        input.classList.toggle("bad", x === null);
        if (x === null) ok = false;
        flat.push(x);
      }
      if (!ok) {
        toast(it.id + ": every entry must be a " + (payload.dtype === "int64" ? "whole" : "finite") + " number");
        return;
      }
      const value = shape.length === 2 ? Array.from({ length: rows }, (_, i) => flat.slice(i * cols, (i + 1) * cols)) : flat;
      send("/api/leaf", { id: it.id, value: value });
    };
    for (const input of inputs) {
      input.addEventListener("keydown", (event) => {
        if (event.key === "Enter") apply();
      });
    }
    return [h("div", { class: "scroll table-editor" }, table), h("div", { class: "row" }, h("button", { type: "button", onclick: apply }, "Apply"))];
  }

  function elementEditor(it, payload) {
    if (payload.shape.length === 0) return [];
    const label = h("span", { class: "formula element-label" }, "");
    const input = h("input", { type: "text", class: "element-input", disabled: true, "aria-label": it.id + " element" });
    const button = h("button", { type: "button", disabled: true }, "Set");
    const apply = () => {
      if (app.element === null) return;
      const value = parseNumber(input.value, payload.dtype);
      if (value === null) {
        input.classList.add("bad");
        toast(indexText(it.id, app.element) + ": a " + (payload.dtype === "int64" ? "whole" : "finite") + " number, please");
        return;
      }
      input.classList.remove("bad");
      send("/api/leaf", { id: it.id, index: app.element, value: value });
    };
    button.addEventListener("click", apply);
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") apply();
    });
    const row = h("div", { class: "row element-row", hidden: true }, label, h("span", {}, "="), input, button);
    return [h("p", { class: "note element-hint" }, "Click a cell above to edit that element."), row];
  }

  function pickElement(it, flat) {
    const editor = $("panel").querySelector(".editor[data-index]");
    if (!editor || !app.detail || app.detail.index !== it.index) return;
    const index = unravel(flat, app.detail.value.shape);
    app.element = index;
    editor.querySelector(".element-label").textContent = indexText(it.id, index);
    const input = editor.querySelector(".element-input");
    input.disabled = false;
    input.value = full(app.detail.value.data[flat]);
    editor.querySelector(".element-row button").disabled = false;
    editor.querySelector(".element-row").hidden = false;
    editor.querySelector(".element-hint").hidden = true;
    input.focus();
    input.select();
  }

  // After a recompute, the kept editor shows the leaf's new values where the user is not typing.
  function updateEditor(editor) {
    const d = app.detail;
    if (!d || Number(editor.dataset.index) !== d.index) return;
    const scalar = editor.querySelector(".scalar-input");
    if (scalar && document.activeElement !== scalar && d.value.data) scalar.value = full(d.value.data[0]);
  }

  // --- stepping through the pass --------------------------------------------------------------------

  async function enterSteps() {
    try {
      app.steps = await api("GET", "/api/steps");
    } catch (error) {
      toast(error.message);
      return;
    }
    $("stepbar").hidden = false;
    $("steps-toggle").classList.add("active");
    drawBadges();
    await showStep(0);
  }

  function leaveSteps(redraw) {
    if (!app.steps) return;
    app.steps = null;
    $("stepbar").hidden = true;
    $("steps-toggle").classList.remove("active");
    if (redraw && app.state) showSvg(app.state.svg, false);
  }

  async function showStep(k) {
    if (!app.steps) return;
    const count = app.steps.captions.length;
    const step = Math.min(Math.max(k, 0), count - 1);
    let frame;
    try {
      frame = await api("GET", "/api/steps/" + step);
    } catch (error) {
      toast(error.message);
      return;
    }
    if (!app.steps) return;
    app.step = step;
    showSvg(frame.svg, false);
    $("step-counter").textContent = step + 1 + " / " + count;
    $("step-caption").textContent = frame.caption;
    $("step-prev").disabled = $("step-first").disabled = step === 0;
    $("step-next").disabled = $("step-last").disabled = step === count - 1;
  }

  // --- start ---------------------------------------------------------------------------------------

  function setupControls() {
    $("steps-toggle").addEventListener("click", () => (app.steps ? leaveSteps(true) : enterSteps()));
    $("step-first").addEventListener("click", () => showStep(0));
    $("step-prev").addEventListener("click", () => showStep(app.step - 1));
    $("step-next").addEventListener("click", () => showStep(app.step + 1));
    $("step-last").addEventListener("click", () => showStep(Infinity));
    $("step-exit").addEventListener("click", () => leaveSteps(true));
    $("check-run").addEventListener("click", () => runCheck(false));
    $("check-auto").addEventListener("change", (event) => {
      if (event.target.checked) runCheck(true);
    });
    $("reset").addEventListener("click", () => send("/api/reset", {}));
    $("loss-box").addEventListener("click", () => {
      if (app.graph.loss !== null) select({ type: "node", index: app.graph.loss });
    });
    document.addEventListener("keydown", (event) => {
      const typing = event.target.closest("input, textarea, select");
      if (typing) return;
      if (event.key === "ArrowRight" && app.steps) showStep(app.step + 1);
      else if (event.key === "ArrowLeft" && app.steps) showStep(app.step - 1);
      else if (event.key === "Home" && app.steps) showStep(0);
      else if (event.key === "End" && app.steps) showStep(Infinity);
      else if (event.key === "Escape") {
        if (app.steps) leaveSteps(true);
        else select(null);
      } else if (event.key === "f" || event.key === "F") fit();
      else if (event.key === "+" || event.key === "=") zoomCentre(1.25);
      else if (event.key === "-") zoomCentre(0.8);
      else if (event.key === "s" || event.key === "S") app.steps ? leaveSteps(true) : enterSteps();
      else return;
      event.preventDefault();
    });
  }

  async function start() {
    setupStage();
    setupControls();
    try {
      app.graph = await api("GET", "/api/graph");
      const state = await api("GET", "/api/state");
      app.initialRows = state.rows;
      document.title = app.graph.name + " · graphdiff viewer";
      $("graph-name").textContent = app.graph.name;
      $("check-run").disabled = app.graph.loss === null;
      $("check-auto").disabled = app.graph.loss === null;
      $("check-auto").checked = app.graph.loss !== null && app.graph.items.length <= 200;
      applyState(state, false);
      renderPanel(true);
      if ($("check-auto").checked) await runCheck(true);
      document.body.dataset.ready = "true";
    } catch (error) {
      toast(error.message);
    }
  }

  start();
})();
