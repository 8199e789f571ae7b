// The backprop explorer's behaviour. Every number comes from the page's JSON, written by
// the engine in Python; this script only shows, highlights and moves between steps.
// `explorer(root)` wires up one explorer element (several may share a notebook page).

function explorer(root) {
  "use strict";
  const data = JSON.parse(root.querySelector(".sgx-data").textContent);
  const steps = data.steps;
  const SPEEDS = [0.25, 0.5, 1, 2, 4];
  const STEP_MS = 1100;
  const PHASE_NAMES = {forward: "forward pass", check: "converged?", backward: "backward pass", update: "update"};
  const FLOW = [["init", "initialise θ"], ["loss", "compute the loss J(θ)"], ["check", "converged?"],
                ["grad", "gradient ∇J(θ)"], ["update", "update θ ← θ − step"]];
  const q = (sel) => root.querySelector(sel);
  const graphBox = q(".sgx-graph");
  const bubble = q(".sgx-bubble");
  const tableWrap = q(".sgx-tablewrap");

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  // ---- the pictures: find each node and arrow by the key Python wrote on it
  const pictures = Array.from(root.querySelectorAll(".sgx-picture")).map((fig) => {
    const nodes = new Map(), edges = new Map();
    fig.querySelectorAll("g.node[data-node]").forEach((g) => {
      nodes.set(g.getAttribute("data-node"), g);
      g.addEventListener("click", (ev) => { ev.stopPropagation(); select(g.getAttribute("data-node")); });
    });
    fig.querySelectorAll("g.edge[data-edge]").forEach((g) => {
      const key = g.getAttribute("data-edge");
      edges.set(key, {g: g, dst: key.split("->")[1].split("#")[0]});
    });
    return {fig: fig, svg: fig.querySelector("svg"), graph: fig.querySelector("g.graph"), nodes: nodes, edges: edges};
  });

  // ---- per pass: at which step each node lights, each arrow is done, each gradient arrives
  const passes = data.passes.map((p) => {
    const lit = new Map(), done = new Map(), grads = new Map(), updated = new Map(), flowStart = new Map();
    for (let k = p.first; k < p.first + p.count; k++) {
      const s = steps[k];
      s.lights.forEach((key) => { if (!lit.has(key)) lit.set(key, k); });
      if (s.phase === "backward") s.edges.forEach((e) => { if (!done.has(e)) done.set(e, k); });
      if (s.phase === "update" && s.item && !updated.has(s.item)) updated.set(s.item, k);
      s.grads.forEach(([key, value, tag]) => {
        if (!grads.has(key)) grads.set(key, []);
        grads.get(key).push([k, value, tag]);
      });
      if (s.flow && !flowStart.has(s.flow)) flowStart.set(s.flow, k);
    }
    return Object.assign({}, p, {lit: lit, done: done, grads: grads, updated: updated, flowStart: flowStart});
  });

  let k = 0, playing = false, timer = null, speed = 2, selected = null, zoom = null, tablePass = -1;

  // ---- showing arrays described by Python: {shape, lines} or {shape, stats}
  function valueBox(value) {
    const box = el("div", "sgx-value");
    if (!value) return box;
    box.appendChild(el("div", "sgx-shape", value.shape));
    if (value.lines) {
      box.appendChild(el("pre", "sgx-lines", value.lines.join("\n")));
    } else if (value.stats) {
      const st = el("div", "sgx-stats");
      value.stats.forEach(([name, text]) => {
        const cell = el("span", "sgx-stat");
        cell.appendChild(el("i", null, name + " "));
        cell.appendChild(el("b", null, text));
        st.appendChild(cell);
      });
      box.appendChild(st);
    }
    return box;
  }

  function fieldRow(f) {
    const row = el("div", "sgx-field" + (f.tone ? " sgx-tone-" + f.tone : ""));
    row.appendChild(el("div", "sgx-label", f.label));
    if (f.value) row.appendChild(valueBox(f.value));
    if (f.text) row.appendChild(el("div", "sgx-text", f.text));
    return row;
  }

  function phasePosition(s) {
    // "edge 3 of 9" within this phase of this pass
    const P = passes[s.pass];
    let first = k, last = k;
    while (first > P.first && steps[first - 1].phase === s.phase) first--;
    while (last < P.first + P.count - 1 && steps[last + 1].phase === s.phase) last++;
    return [k - first + 1, last - first + 1];
  }

  // ---- the panel for the current step
  function renderPanel(s) {
    const panel = q(".sgx-panel");
    panel.replaceChildren();
    const [i, n] = phasePosition(s);
    const tag = el("div", "sgx-phase sgx-phase-" + s.phase, `${PHASE_NAMES[s.phase]} · step ${i} of ${n}`);
    panel.appendChild(tag);
    panel.appendChild(el("h3", "sgx-step-title", s.title));
    s.fields.forEach((f) => panel.appendChild(fieldRow(f)));
    if (s.notes.length) {
      const ul = el("ul", "sgx-step-notes");
      s.notes.forEach((t) => ul.appendChild(el("li", null, t)));
      panel.appendChild(ul);
    }
  }

  // ---- clicking a node: its value and its gradient so far
  function select(key) {
    selected = key;
    render();
  }

  function renderInspector(s) {
    const box = q(".sgx-inspect");
    if (selected === null) { box.hidden = true; return; }
    const P = passes[s.pass];
    const info = P.nodes[selected];
    if (!info) { box.hidden = true; return; }
    box.hidden = false;
    box.replaceChildren();
    const close = el("button", "sgx-close", "×");
    close.type = "button";
    close.title = "close";
    close.setAttribute("aria-label", "close");
    close.addEventListener("click", () => { selected = null; render(); focusRoot(); });
    box.appendChild(close);
    box.appendChild(el("h4", "sgx-inspect-title", info.label));
    box.appendChild(el("div", "sgx-inspect-kind", info.kind));
    const litAt = P.lit.get(selected);
    if (litAt !== undefined && litAt > k) {
      box.appendChild(el("div", "sgx-text", `not computed yet (step ${litAt + 1} computes it)`));
    } else if (info.value) {
      box.appendChild(fieldRow({label: "value", value: info.value, tone: "value"}));
    }
    const history = P.grads.get(selected) || [];
    let last = null;
    history.forEach(([at, value]) => { if (at <= k) last = [at, value]; });
    if (last) {
      const row = fieldRow({label: `gradient (as of step ${last[0] + 1})`, value: last[1], tone: "total"});
      row.classList.add("sgx-inspect-grad");
      box.appendChild(row);
    } else {
      box.appendChild(el("div", "sgx-text sgx-dimtext",
                         history.length ? "no gradient yet: the backward pass has not reached it"
                                        : "no gradient is shown for it"));
    }
  }

  // ---- a cell of the table: its numbers (with the brackets and the comma they carry; not the digits of a
  // name such as x1, h.3 or add#4) never break across lines; one too wide for its column ends in an ellipsis
  // (the cell's title holds the whole text)
  const NUMBER = /(?<![\w.#[(])[[(]*-?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?[\])]*,?(?![\w.])/gi;

  function cellText(text) {
    const box = el("div", "sgx-cell");
    let at = 0;
    for (const m of text.matchAll(NUMBER)) {
      if (m.index > at) box.appendChild(document.createTextNode(text.slice(at, m.index)));
      box.appendChild(el("span", "sgx-whole", m[0]));
      at = m.index + m[0].length;
    }
    if (at < text.length) box.appendChild(document.createTextNode(text.slice(at)));
    return box;
  }

  // ---- the table of the current pass: one table per phase (forward, converged?, backward: the trace, update)
  function buildTable(passIndex) {
    const P = passes[passIndex];
    tableWrap.replaceChildren();
    let phase = null, body = null;
    for (let j = P.first; j < P.first + P.count; j++) {
      const s = steps[j];
      if (s.phase !== phase) {
        phase = s.phase;
        const table = el("table", "sgx-table sgx-table-" + phase);
        const cols = data.columns[phase] || [];
        const widths = el("colgroup");
        for (let c = 0; c <= cols.length; c++) widths.appendChild(el("col"));
        table.appendChild(widths);
        const head = el("thead");
        const title = el("tr", "sgx-section-head");
        const th = el("th", null, PHASE_NAMES[phase]);
        th.colSpan = cols.length + 1;
        title.appendChild(th);
        head.appendChild(title);
        const names = el("tr", "sgx-colnames");
        names.appendChild(el("th", null, "step"));
        cols.forEach((c) => names.appendChild(el("th", null, c)));
        head.appendChild(names);
        table.appendChild(head);
        body = el("tbody");
        table.appendChild(body);
        tableWrap.appendChild(table);
      }
      const tr = el("tr", "sgx-row");
      tr.dataset.step = String(j);
      tr.appendChild(el("td", "sgx-num", String(j + 1)));
      s.row.forEach((cell) => {
        const td = el("td");
        td.appendChild(cellText(cell));
        if (cell) td.title = cell;
        tr.appendChild(td);
      });
      tr.addEventListener("click", () => { stop(); go(j); focusRoot(); });
      body.appendChild(tr);
    }
    tablePass = passIndex;
  }

  function renderTable(s) {
    if (tablePass !== s.pass) buildTable(s.pass);
    const old = q(".sgx-row.sgx-current-row");
    if (old) old.classList.remove("sgx-current-row");
    const row = q(`.sgx-row[data-step="${k}"]`);
    if (!row) return;
    row.classList.add("sgx-current-row");
    // where the row is inside the scrolling box (rows sit in one table per phase)
    const top = row.getBoundingClientRect().top - tableWrap.getBoundingClientRect().top + tableWrap.scrollTop;
    const bottom = top + row.offsetHeight;
    if (top < tableWrap.scrollTop + 40 || bottom > tableWrap.scrollTop + tableWrap.clientHeight) {
      tableWrap.scrollTop = Math.max(0, top - tableWrap.clientHeight / 3);
    }
  }

  // ---- the graph: dim what is not computed yet, light the current node and arrows
  function renderGraph(s) {
    const P = passes[s.pass];
    pictures.forEach((pic, i) => { pic.fig.hidden = i !== P.picture; });
    const pic = pictures[P.picture];
    if (!pic) { bubble.hidden = true; return; }
    const current = new Set(s.edges);
    pic.nodes.forEach((g, key) => {
      const litAt = P.lit.has(key) ? P.lit.get(key) : P.first;
      const history = P.grads.get(key) || [];
      const updatedAt = P.updated.get(key);
      let holds = null;
      history.forEach(([at, , tag]) => { if (at <= k) holds = tag; });
      showTag(g, holds, pic);
      g.classList.toggle("sgx-dim", litAt > k);
      g.classList.toggle("sgx-current", key === s.item);
      g.classList.toggle("sgx-hasgrad", holds !== null);
      g.classList.toggle("sgx-updated", updatedAt !== undefined && updatedAt <= k);
      g.classList.toggle("sgx-selected", key === selected);
    });
    pic.edges.forEach((e, key) => {
      const litAt = P.lit.has(e.dst) ? P.lit.get(e.dst) : P.first;
      const doneAt = P.done.get(key);
      const active = current.has(key);
      e.g.classList.toggle("sgx-dim", litAt > k);
      e.g.classList.toggle("sgx-back", doneAt !== undefined && doneAt <= k && !active);
      e.g.classList.toggle("sgx-active", active && s.phase === "backward");
      e.g.classList.toggle("sgx-feed", active && s.phase === "forward");
    });
    placeBubble(s, pic);
  }

  // ---- the gradient a node holds, as a tag beside the node's box (text written by Python): the first
  // spot around the box that covers no other box, arrow, label or tag; above the top right corner if free
  const SVGNS = "http://www.w3.org/2000/svg";
  const TAG_H = 14;

  function outline(g) {
    return (g.querySelector(":scope > polygon, :scope > ellipse, :scope > path") || g).getBBox();
  }

  function obstacles(pic) {
    // what a tag or the bubble must not cover, in the picture's coordinates: the nodes' boxes and the texts
    // in them, the labels (of the picture, its frames and arrows) and arrowheads; found once, when the
    // picture is first laid out
    if (pic.obstacles) return pic.obstacles;
    const boxes = (selector) => Array.from(pic.fig.querySelectorAll(selector)).map((e) => e.getBBox());
    const frame = pic.fig.querySelector("g.graph > polygon");                // the picture's own bounds
    pic.obstacles = {nodes: Array.from(pic.nodes.values()).map(outline), texts: boxes("g.node > text"),
                     labels: boxes("g.cluster text, g.graph > text, g.edge text"), heads: boxes("g.edge polygon"),
                     bounds: frame ? frame.getBBox() : null};
    return pic.obstacles;
  }

  function arrowPoints(pic) {
    // points along the arrows, which a tag had better not cross (the bubble may): found once, when the
    // first tag is placed, as following every arrow takes a while on a big picture
    if (pic.points) return pic.points;
    pic.points = [];
    pic.fig.querySelectorAll("g.edge path").forEach((path) => {
      const length = path.getTotalLength();
      for (let at = 0; at <= length; at += 4) {
        const p = path.getPointAtLength(at);
        pic.points.push([p.x, p.y]);
      }
    });
    return pic.points;
  }

  function shownTags(pic, g) {
    // the tags shown on the picture, but g's own, as boxes in the picture's coordinates
    return Array.from(pic.fig.querySelectorAll(".sgx-gradtag"))
      .filter((t) => t.parentNode !== g && t.style.display !== "none" && t.dataset.w)
      .map((t) => ({x: Number(t.dataset.x), y: Number(t.dataset.y), width: Number(t.dataset.w), height: TAG_H}));
  }

  function meets(r, b) {
    // whether a spot r = {x, y, w, h} and a box b = {x, y, width, height} overlap
    return b.x < r.x + r.w && r.x < b.x + b.width && b.y < r.y + r.h && r.y < b.y + b.height;
  }

  function collisions(r, pic, tags) {
    // how bad a spot r is (in the picture's coordinates): covering a box, a label, an arrowhead or one of
    // the tags costs 10, crossing arrows 1, and being cut off by the picture's edge 100
    const {nodes, labels, heads, bounds} = obstacles(pic), points = arrowPoints(pic);
    const hits = (b) => meets(r, b);
    const outside = bounds && (r.x < bounds.x || r.y < bounds.y || r.x + r.w > bounds.x + bounds.width ||
                               r.y + r.h > bounds.y + bounds.height);
    let cost = 10 * [nodes, labels, heads, tags].reduce((n, bs) => n + bs.filter(hits).length, 0);
    if (outside) cost += 100;
    if (points.some(([x, y]) => x > r.x - 1 && x < r.x + r.w + 1 && y > r.y - 1 && y < r.y + r.h + 1)) cost += 1;
    return cost;
  }

  function placeTag(g, pic, w) {
    // spots around the box, in order of preference: above (right, left, middle), right, below (right,
    // left, middle), left; then the same one tag-height further out
    const b = outline(g), gap = 1.5, mid = b.x + (b.width - w) / 2, tags = shownTags(pic, g);
    let best = null, least = Infinity;
    for (const out of [0, TAG_H + gap]) {
      const above = b.y - TAG_H - gap - out, below = b.y + b.height + gap + out;
      const spots = [[b.x + b.width - w, above], [b.x, above], [mid, above], [b.x + b.width + 3 + out, b.y],
                     [b.x + b.width - w, below], [b.x, below], [mid, below], [b.x - w - 3 - out, b.y]];
      for (const [x, y] of spots) {
        const cost = collisions({x: x, y: y, w: w, h: TAG_H}, pic, tags);
        if (cost === 0) return [x, y];
        if (cost < least) { best = [x, y]; least = cost; }
      }
    }
    return best;
  }

  function showTag(g, text, pic) {
    let tag = g.querySelector(":scope > .sgx-gradtag");
    if (!text) { if (tag) tag.style.display = "none"; return; }
    if (!tag) {
      if (!(outline(g).width > 0)) return;  // not laid out (a hidden picture): tagged when shown
      tag = document.createElementNS(SVGNS, "g");
      tag.setAttribute("class", "sgx-gradtag");
      tag.appendChild(document.createElementNS(SVGNS, "rect"));
      tag.appendChild(document.createElementNS(SVGNS, "text"));
      g.appendChild(tag);
    }
    tag.style.display = "";
    if (tag.dataset.text === text) return;
    tag.dataset.text = text;
    const label = tag.lastChild, frame = tag.firstChild;
    label.textContent = text;
    const w = label.getComputedTextLength() + 10;
    const [x, y] = placeTag(g, pic, w);
    Object.assign(tag.dataset, {x: String(x), y: String(y), w: String(w)});
    frame.setAttribute("x", x); frame.setAttribute("y", y);
    frame.setAttribute("width", w); frame.setAttribute("height", TAG_H);
    frame.setAttribute("rx", 7);
    label.setAttribute("x", x + 5); label.setAttribute("y", y + TAG_H - 3.8);
  }

  function within(rect) {
    // a screen rectangle in the coordinates of the scrolling graph box
    const box = graphBox.getBoundingClientRect();
    return {x: rect.left - box.left + graphBox.scrollLeft, y: rect.top - box.top + graphBox.scrollTop,
            w: rect.width, h: rect.height};
  }

  // ---- the bubble: the step's number beside the current arrow or node, at the first spot in view that
  // covers no box, label or tag (arrows it may cross), else at the first that covers no text, else above
  const BUBBLE_GAP = 10;

  function anchorOf(s, pic) {
    // the middle of the current arrow (a backward step along one arrow), else the current node's box;
    // in the coordinates of the scrolling graph box
    const edge = s.phase === "backward" && s.edges.length === 1 ? pic.edges.get(s.edges[0]) : null;
    const path = edge ? edge.g.querySelector("path") : null;
    if (path) {
      const point = path.getPointAtLength(path.getTotalLength() / 2);
      const m = path.getScreenCTM();
      return within({left: point.x * m.a + point.y * m.c + m.e, top: point.x * m.b + point.y * m.d + m.f,
                     width: 0, height: 0});
    }
    const node = s.item ? pic.nodes.get(s.item) : null;
    return node ? within(node.getBoundingClientRect()) : null;
  }

  function bubbleSpots(a, w, h) {
    // the top left corners a w × h bubble may take around the anchor a, in order of preference: above,
    // below, left and right (at a's height, or nudged up or down by up to a quarter of the bubble's height
    // to fit between the boxes above and below), the corners; then left and right further out, up to the
    // bubble's width or four times its height, whichever is more
    const cx = a.x + a.w / 2, above = a.y - h - BUBBLE_GAP, below = a.y + a.h + BUBBLE_GAP;
    const left = a.x - w - BUBBLE_GAP, right = a.x + a.w + BUBBLE_GAP;
    const heights = [0, -1, 1, -2, 2, -3, 3].map((i) => a.y + a.h / 2 - h / 2 + i * h / 12);
    const beside = (out) => heights.flatMap((y) => [[left - out, y], [right + out, y]]);
    const spots = [[cx - w / 2, above], [cx - w / 2, below], ...beside(0),
                   [right, above], [left, above], [right, below], [left, below]];
    for (let out = h; out <= Math.max(w, 4 * h); out += h) spots.push(...beside(out));
    return spots;
  }

  function bubbleSpot(a, w, h, pic) {
    // the first of the bubble's spots that covers no box, label or tag, else the first that covers no text
    // (of a box, label or tag), else the first; each moved sideways into the graph box's view where it
    // sticks out, and passed over if it still does
    const m = pic.graph.getScreenCTM(), box = graphBox.getBoundingClientRect(), tags = shownTags(pic, null);
    const x0 = graphBox.scrollLeft, y0 = graphBox.scrollTop, x1 = x0 + graphBox.clientWidth;
    const y1 = y0 + graphBox.clientHeight;
    const spots = bubbleSpots(a, w, h).map(([x, y]) => [Math.max(x0 + 2, Math.min(x, x1 - w - 2)), y]);
    const inView = spots.filter(([x, y]) => x >= x0 && y >= y0 && x + w <= x1 && y + h <= y1);
    const {nodes, labels, texts} = obstacles(pic);
    const clear = (layers) => ([x, y]) => {                  // covering none of the layers, in the picture
      const r = {x: (x - x0 + box.left - m.e) / m.a, y: (y - y0 + box.top - m.f) / m.d, w: w / m.a, h: h / m.d};
      return layers.every((bs) => !bs.some((b) => meets(r, b)));
    };
    return inView.find(clear([nodes, labels, tags])) || inView.find(clear([texts, labels, tags])) || spots[0];
  }

  function placeBubble(s, pic) {
    const anchor = anchorOf(s, pic);
    if (anchor) scrollToSee(anchor);
    if (!anchor || !s.bubble) { bubble.hidden = true; return; }
    bubble.hidden = false;
    bubble.firstChild.textContent = s.bubble;
    bubble.className = "sgx-bubble sgx-bubble-" + s.phase;
    const w = bubble.offsetWidth, h = bubble.offsetHeight, [x, spotY] = bubbleSpot(anchor, w, h, pic);
    const y = Math.max(2, spotY);
    bubble.style.left = x + "px";
    bubble.style.top = y + "px";
    pointAt(anchor, {x: x, y: y, w: w, h: h});
  }

  const POINTER = 6;                          // how far the pointer reaches out of the bubble
  const TIP_END = {across: 14, beside: 6};   // the least distance from the pointer's middle to a bubble's corner

  function pointAt(a, b) {
    // the pointer on the bubble b's edge that faces the anchor a, across from it (the middle of a, or the
    // nearest point across); none when b sits at a corner of a, or too close to a for a pointer
    const side = b.y + b.h + POINTER <= a.y ? "above" : b.y >= a.y + a.h + POINTER ? "below"
      : b.x + b.w + POINTER <= a.x ? "left" : b.x >= a.x + a.w + POINTER ? "right" : null;
    const across = side === "above" || side === "below";
    const [start, length, from, size] = across ? [b.x, b.w, a.x, a.w] : [b.y, b.h, a.y, a.h];
    const end = across ? TIP_END.across : TIP_END.beside;
    const at = Math.min(Math.max(from + size / 2, start + end), start + length - end);
    if (side === null || at < from - 0.5 || at > from + size + 0.5) {
      delete bubble.dataset.side;
      return;
    }
    bubble.dataset.side = side;
    bubble.style.setProperty("--sgx-tip", (at - start) + "px");
  }

  function scrollToSee(r) {
    const margin = 60;
    const viewW = graphBox.clientWidth, viewH = graphBox.clientHeight;
    if (r.x < graphBox.scrollLeft + margin || r.x + r.w > graphBox.scrollLeft + viewW - margin) {
      graphBox.scrollLeft = Math.max(0, r.x + r.w / 2 - viewW / 2);
    }
    if (r.y < graphBox.scrollTop + margin || r.y + r.h > graphBox.scrollTop + viewH - margin) {
      graphBox.scrollTop = Math.max(0, r.y + r.h / 2 - viewH / 2);
    }
  }

  // ---- zoom: the picture at its natural size times `zoom`
  function fitZoom(P) {
    // the whole picture when it stays readable (at least 60%), else the full width
    const [w, h] = P.size;
    const roomW = graphBox.clientWidth - 18, roomH = graphBox.clientHeight - 18;
    if (!(w > 0 && h > 0 && roomW > 0)) return 1;
    const whole = Math.min(1.25, roomW / w, roomH > 0 ? roomH / h : Infinity);
    return whole >= 0.6 ? whole : Math.min(1.25, roomW / w);
  }

  function applyZoom(s) {
    const P = passes[s.pass];
    const pic = pictures[P.picture];
    if (!pic || !pic.svg) return;
    if (zoom === null) zoom = fitZoom(P);
    const [w, h] = P.size;
    pic.svg.style.width = Math.round(w * zoom) + "px";
    pic.svg.style.height = Math.round(h * zoom) + "px";
  }

  // ---- the caption above the picture: how to read it in the phase shown (text written by Python)
  function buildCaption() {
    const caption = q(".sgx-caption");
    Object.entries(data.captions).forEach(([phase, [heading, text]]) => {
      const line = el("span", "sgx-caption-" + phase);
      line.dataset.phase = phase;
      line.appendChild(el("b", null, heading));
      line.appendChild(document.createTextNode(": " + text));
      caption.appendChild(line);
    });
  }

  function renderCaption(s) {
    const caption = q(".sgx-caption");
    caption.hidden = !passes[s.pass].drawn;
    caption.querySelectorAll("span").forEach((line) => {
      line.classList.toggle("sgx-caption-on", line.dataset.phase === s.phase);
    });
  }

  // ---- the progress line and the training-loop strip
  function renderProgress(s) {
    const [i, n] = phasePosition(s);
    let text = `step ${k + 1} of ${steps.length} · ${PHASE_NAMES[s.phase]} (${i} of ${n})`;
    if (passes.length > 1) text += ` · iteration ${s.pass + 1} of ${passes.length}`;
    q(".sgx-progress").textContent = text;
    root.querySelector('[data-act="play"]').classList.toggle("sgx-playing", playing);
    root.querySelector('[data-act="play"]').setAttribute("aria-label", playing ? "pause" : "play");
  }

  function buildFlow() {
    const strip = q(".sgx-flow");
    if (!data.flow) return;
    strip.hidden = false;
    FLOW.forEach(([stage, text]) => {
      const li = el("li", "sgx-stage", text);
      li.dataset.stage = stage;
      li.addEventListener("click", () => {
        const start = passes[steps[k].pass].flowStart.get(stage);
        if (start !== undefined) { stop(); go(start); }
        focusRoot();
      });
      strip.appendChild(li);
    });
  }

  function renderFlow(s) {
    root.querySelectorAll(".sgx-stage").forEach((li) => {
      li.classList.toggle("sgx-stage-on", li.dataset.stage === s.flow);
    });
  }

  function render() {
    const s = steps[k];
    root.dataset.step = String(k);
    root.dataset.phase = s.phase;
    renderCaption(s);
    applyZoom(s);
    renderGraph(s);
    renderPanel(s);
    renderInspector(s);
    renderTable(s);
    renderProgress(s);
    renderFlow(s);
  }

  // ---- moving
  function go(target) {
    const next = Math.max(0, Math.min(steps.length - 1, target));
    if (steps[next].pass !== steps[k].pass) zoom = null;
    k = next;
    render();
  }

  function stop() {
    playing = false;
    if (timer !== null) { clearTimeout(timer); timer = null; }
    renderProgress(steps[k]);
  }

  function tick() {
    if (!playing) return;
    if (k >= steps.length - 1) { stop(); return; }
    go(k + 1);
    timer = setTimeout(tick, STEP_MS / SPEEDS[speed]);
  }

  function play() {
    if (playing) { stop(); return; }
    if (k >= steps.length - 1) go(0);
    playing = true;
    renderProgress(steps[k]);
    timer = setTimeout(tick, STEP_MS / SPEEDS[speed]);
  }

  function setSpeed(i) {
    speed = i;
    q(".sgx-speed input").value = String(i);
    q(".sgx-speed-text").textContent = SPEEDS[i] + "×";
  }

  function reset() {
    stop();
    selected = null;
    setSpeed(2);
    zoom = null;
    tableWrap.scrollTop = 0;
    graphBox.scrollTop = 0;
    graphBox.scrollLeft = 0;
    go(0);
  }

  const actions = {
    start: () => { stop(); go(0); },
    back: () => { stop(); go(k - 1); },
    play: play,
    next: () => { stop(); go(k + 1); },
    end: () => { stop(); go(steps.length - 1); },
    reset: reset,
    "zoom-in": () => { zoom = (zoom || 1) * 1.25; render(); },
    "zoom-out": () => { zoom = (zoom || 1) / 1.25; render(); },
    "zoom-fit": () => { zoom = null; render(); },
  };

  function focusRoot() {
    root.focus({preventScroll: true});
  }

  root.querySelectorAll("button[data-act]").forEach((b) => {
    b.addEventListener("click", () => { actions[b.dataset.act](); focusRoot(); });
  });
  q(".sgx-speed input").addEventListener("input", (ev) => setSpeed(Number(ev.target.value)));

  const KEYS = {ArrowRight: "next", ArrowLeft: "back", " ": "play", Home: "start", End: "end"};

  function onKey(ev) {
    if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
    if (ev.target && ev.target.tagName === "INPUT") return;
    const act = KEYS[ev.key];
    if (!act) return;
    ev.preventDefault();
    actions[act]();
  }

  (data.standalone ? document : root).addEventListener("keydown", onKey);
  window.addEventListener("resize", () => { render(); });

  // ---- what the page left out, the titles, the first step
  q(".sgx-title").textContent = data.title;
  q(".sgx-subtitle").textContent = data.subtitle;
  const notes = q(".sgx-notes");
  data.notes.forEach((t) => notes.appendChild(el("li", null, t)));
  notes.hidden = data.notes.length === 0;
  buildFlow();
  buildCaption();
  render();
}
