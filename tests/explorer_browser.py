"""Driving saved explorer pages in headless Chromium through Playwright.

Not a test module: `tests/test_explorer_browser.py` uses it to click through pages,
and `docs/make_pictures.py` to take the screenshots of docs/watch-backprop.md, so
the pictures show what the tests check. Playwright drives Debian's Chromium
(`/usr/bin/chromium`), never a browser of its own; `unavailable()` says in one line
why that cannot run here.

    python tests/explorer_browser.py PAGE.html   # time loading PAGE and stepping through it
"""
import os
import sys
import tempfile
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 860}


def unavailable():
    """Why pages cannot be opened in Chromium here (one line), or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install playwright, or the dev extra)"
    if not os.path.exists(CHROMIUM):
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    return None


class Browser:
    """Headless Chromium with a fresh profile; `open(path)` loads a page from disk."""

    def __init__(self, viewport=None):
        self.viewport = viewport or VIEWPORT

    def __enter__(self):
        from playwright.sync_api import sync_playwright

        self._profile = tempfile.TemporaryDirectory(prefix="sgx-chromium-")
        self._playwright = sync_playwright().start()
        self.context = self._playwright.chromium.launch_persistent_context(
            self._profile.name, executable_path=CHROMIUM, args=ARGS, headless=True, viewport=self.viewport)
        return self

    def __exit__(self, *exc):
        self.context.close()
        self._playwright.stop()
        self._profile.cleanup()

    def open(self, path):
        """The page at `path` (a file), loaded, as an `ExplorerPage`."""
        return ExplorerPage(self.context.new_page(), path)

    def open_plain(self, path):
        """A page without an explorer (e.g. notebook output), loaded, with its requests and errors watched."""
        return ExplorerPage(self.context.new_page(), path, wait_for="body")


# What the panel and the inspector show, read back from the page: [[label, shown]], where shown
# is the list of value lines, or [[name, text]] of a summary, or the text of a text field.
_READ_FIELDS = """(box) => Array.from(box.querySelectorAll('.sgx-field')).map((f) => {
  const lines = f.querySelector('.sgx-lines'), stats = f.querySelector('.sgx-stats');
  const text = f.querySelector('.sgx-text');
  const shown = lines ? lines.textContent.split('\\n')
    : stats ? Array.from(stats.querySelectorAll('.sgx-stat')).map((s) => [s.querySelector('i').textContent.trim(),
                                                                          s.querySelector('b').textContent])
    : text ? text.textContent : null;
  return [f.querySelector('.sgx-label').textContent, shown];
})"""


class ExplorerPage:
    """One page in the browser: its explorers, what they show, and what went wrong.

    `requests` lists every request that is not for the file itself or inline data
    (there should be none), `errors` every console error and uncaught exception.
    `index` picks the explorer when a page holds several.
    """

    def __init__(self, page, path, wait_for=".sgx .sgx-step-title"):
        self.page = page
        self.requests, self.errors = [], []
        page.on("request", self._request)
        page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        started = time.perf_counter()
        page.goto(Path(path).resolve().as_uri())
        page.wait_for_selector(wait_for)
        self.load_ms = (time.perf_counter() - started) * 1000
        self.index = 0

    def _request(self, request):
        if not request.url.startswith(("file:", "data:", "about:")):
            self.requests.append(request.url)

    @property
    def root(self):
        """The current explorer's element."""
        return self.page.locator(".sgx").nth(self.index)

    @property
    def step(self):
        """The index of the step shown (0-based)."""
        return int(self.root.get_attribute("data-step"))

    def press(self, key):
        """Press a key (in a notebook the explorer takes keys once it has the focus)."""
        self.root.focus()
        self.page.keyboard.press(key)

    def click(self, act):
        """Click a control: start, back, play, next, end, reset, zoom-in, zoom-out, zoom-fit."""
        self.root.locator(f'button[data-act="{act}"]').click()

    def go(self, k):
        """Jump to step k by clicking its row of the table (the table shows the current pass)."""
        if self.step == k:
            return
        row = self.root.locator(f'.sgx-row[data-step="{k}"]')
        if row.count() == 0:
            self.press("End" if k > self.step else "Home")
            while self.step != k:
                self.press("ArrowLeft" if self.step > k else "ArrowRight")
            return
        row.click()

    def panel(self):
        """What the panel shows now: {'title', 'phase', 'fields': [[label, shown]], 'notes'}."""
        box = self.root.locator(".sgx-panel")
        return {"title": box.locator(".sgx-step-title").inner_text(),
                "phase": box.locator(".sgx-phase").inner_text(),
                "fields": box.evaluate(_READ_FIELDS),
                "notes": box.locator(".sgx-step-notes li").all_inner_texts()}

    def inspect(self, key):
        """Click the node `key` of the graph; what the inspector then shows: {'title', 'fields'}."""
        self.root.locator(f'.sgx-picture:not([hidden]) g.node[data-node="{key}"]').click()
        box = self.root.locator(".sgx-inspect")
        return {"title": box.locator(".sgx-inspect-title").inner_text(), "fields": box.evaluate(_READ_FIELDS),
                "text": box.inner_text()}

    def tags(self):
        """{node key: text} of the gradient tags shown on the picture now."""
        return self.root.locator(".sgx-picture:not([hidden]) g.node[data-node]").evaluate_all(
            """(gs) => Object.fromEntries(gs
                 .map((g) => [g.getAttribute('data-node'), g.querySelector('.sgx-gradtag')])
                 .filter(([, t]) => t && t.style.display !== 'none').map(([key, t]) => [key, t.textContent]))""")

    def tag_overlaps(self):
        """What the gradient tags shown now cover that they must not: a list of (node key, what), where
        what is 'outside' (beyond the picture), 'tag', 'box' (a node), 'label' (an edge's or cluster's)."""
        return self.root.locator(".sgx-picture:not([hidden]) svg").evaluate(_TAG_OVERLAPS)

    def bubble_overlaps(self):
        """What the bubble shown now covers on the screen, more than a pixel deep: a list of (what, text),
        where what is 'title' (a module frame's), 'label' (a node's text), 'tag' (a gradient tag) or 'cut'
        (the bubble itself, reaching beyond the graph's scrolling box); None when no bubble is shown."""
        return self.root.evaluate(_BUBBLE_OVERLAPS)

    def bubble_pointer(self):
        """The bubble shown now, its anchor and its pointer (the little triangle on its edge), on the screen:
        {'bubble': [left, top, right, bottom], 'anchor': the same of the current arrow's middle (a point) or of
        the current node, 'colour': [r, g, b] of the bubble, 'pointer': None when it has none, else {'points':
        'up', 'down', 'left' or 'right', 'tip': [x, y], 'inside': [x, y] a point inside the triangle}};
        None when no bubble is shown."""
        return self.root.evaluate(_BUBBLE_POINTER)

    def colour_at(self, x, y):
        """[r, g, b] of the pixel at (x, y) of the page as the browser shows it."""
        import io

        from PIL import Image

        png = self.page.screenshot(clip={"x": int(x), "y": int(y), "width": 1, "height": 1})
        return list(Image.open(io.BytesIO(png)).convert("RGB").getpixel((0, 0)))

    def dropped_spaces(self):
        """The texts of the picture shown whose characters the browser did not all lay out (a leading
        or doubled space dropped)."""
        return self.root.locator(".sgx-picture:not([hidden]) svg").evaluate(
            """(svg) => Array.from(svg.querySelectorAll('g.graph text'))
                 .filter((t) => !t.closest('.sgx-gradtag') && t.getNumberOfChars() !== t.textContent.length)
                 .map((t) => t.textContent)""")

    def text_overflows(self):
        """The texts of the picture shown that reach beyond the box drawn around them: a list of
        (text, by how many pixels)."""
        return self.root.locator(".sgx-picture:not([hidden]) svg").evaluate(TEXT_OVERFLOWS)

    def table_overflow(self):
        """How many pixels the widest table (or cell) of the table panel reaches beyond the panel's width
        (0 or less: every column is in view)."""
        return self.root.locator(".sgx-tablewrap").evaluate(
            """(wrap) => { const right = wrap.getBoundingClientRect().left + wrap.clientLeft + wrap.clientWidth;
                 const cells = Array.from(wrap.querySelectorAll('table, td, th'));
                 return Math.max(wrap.scrollWidth - wrap.clientWidth,
                                 ...cells.map((c) => c.getBoundingClientRect().right - right)); }""")

    def split_numbers(self):
        """The numbers of the table panel that the browser splits: a list of (row's step, cell text, number,
        'lines' when its characters lie on more than one line, or 'cut' when it reaches beyond its cell
        without an ellipsis, or without the whole text in the cell's title). A number takes its brackets and
        its comma: '[[0.1417],' stays whole."""
        return self.root.locator(".sgx-tablewrap").evaluate(_SPLIT_NUMBERS)

    def caption(self):
        """The words shown above the picture that say how to read it: the text of the picture's own caption
        and key, and of any caption the page adds, as the browser shows them (hidden text left out)."""
        return self.root.evaluate(
            """(root) => Array.from(root.querySelectorAll(
                 '.sgx-picture:not([hidden]) g.graph > text, .sgx-caption > *'))
               .filter((e) => e.checkVisibility({visibilityProperty: true})).map((e) => e.textContent).join(' ')""")

    def highlighted(self):
        """(current node key, [active arrow keys]) of the picture shown."""
        pic = self.root.locator(".sgx-picture:not([hidden])")
        current = pic.locator("g.node.sgx-current")
        node = current.first.get_attribute("data-node") if current.count() else None
        edges = [e.get_attribute("data-edge") for e in pic.locator("g.edge.sgx-active, g.edge.sgx-feed").all()]
        return node, edges

    def screenshot(self, path):
        """Save what the browser shows as a PNG."""
        self.page.screenshot(path=str(path))
        return Path(path)

    def close(self):
        """Close the tab."""
        self.page.close()


_TAG_OVERLAPS = """(svg) => {
  const rect = (b) => ({x: b.x, y: b.y, w: b.width, h: b.height});
  const meet = (a, b) => a.x < b.x + b.w - 0.5 && b.x < a.x + a.w - 0.5
    && a.y < b.y + b.h - 0.5 && b.y < a.y + a.h - 0.5;
  const frame = rect(svg.querySelector('g.graph > polygon').getBBox());
  const tags = Array.from(svg.querySelectorAll('g.node[data-node] > .sgx-gradtag'))
    .filter((t) => t.style.display !== 'none').map((t) => [t.parentNode.getAttribute('data-node'), rect(t.getBBox())]);
  const boxes = Array.from(svg.querySelectorAll('g.node[data-node]'))
    .map((g) => rect((g.querySelector(':scope > polygon, :scope > ellipse, :scope > path') || g).getBBox()));
  const labels = Array.from(svg.querySelectorAll('g.edge text, g.cluster text')).map((t) => rect(t.getBBox()));
  const found = [];
  tags.forEach(([key, r], i) => {
    if (r.x < frame.x || r.y < frame.y || r.x + r.w > frame.x + frame.w || r.y + r.h > frame.y + frame.h)
      found.push([key, 'outside']);
    if (tags.some(([, o], j) => j !== i && meet(r, o))) found.push([key, 'tag']);
    if (boxes.some((b) => meet(r, b))) found.push([key, 'box']);
    if (labels.some((b) => meet(r, b))) found.push([key, 'label']);
  });
  return found;
}"""


_BUBBLE_OVERLAPS = """(root) => {
  const bubble = root.querySelector('.sgx-bubble');
  if (bubble.hidden) return null;
  const b = bubble.getBoundingClientRect(), graph = root.querySelector('.sgx-graph');
  const meet = (r) => r.width > 0 && b.left < r.right - 1 && r.left < b.right - 1
    && b.top < r.bottom - 1 && r.top < b.bottom - 1;
  const svg = root.querySelector('.sgx-picture:not([hidden]) svg');
  const found = [];
  const look = (what, selector) => svg.querySelectorAll(selector).forEach((e) => {
    if (meet(e.getBoundingClientRect())) found.push([what, e.textContent]);
  });
  look('title', 'g.cluster > text');
  look('label', 'g.node text:not(.sgx-gradtag text)');
  look('tag', '.sgx-gradtag');
  const view = graph.getBoundingClientRect();
  const left = view.left + graph.clientLeft, top = view.top + graph.clientTop;
  if (b.left < left - 1 || b.top < top - 1 || b.right > left + graph.clientWidth + 1
      || b.bottom > top + graph.clientHeight + 1) found.push(['cut', bubble.textContent]);
  return found;
}"""


# Each text of a Graphviz SVG (outside arrows and the explorer's gradient tags) against the smallest
# polygon or path drawn in its group that holds the text's anchor: a node's box or one of its cells, a
# module's frame, a legend cell, the picture's background. [text, pixels it reaches beyond that box].
TEXT_OVERFLOWS = """(svg) => {
  const found = [];
  for (const t of svg.querySelectorAll('g.graph text')) {
    if (t.closest('g.edge, .sgx-gradtag')) continue;
    const x = Number(t.getAttribute('x')), y = Number(t.getAttribute('y'));
    const boxes = Array.from(t.parentNode.querySelectorAll(':scope > polygon, :scope > path')).map((p) => p.getBBox())
      .filter((b) => b.x <= x && x <= b.x + b.width && b.y <= y && y <= b.y + b.height);
    if (!boxes.length) continue;
    const box = boxes.reduce((a, b) => (a.width * a.height <= b.width * b.height ? a : b));
    const r = t.getBBox();
    const beyond = Math.max(box.x - r.x, r.x + r.width - (box.x + box.width));
    if (beyond > 0.25) found.push([t.textContent, Math.round(beyond * 100) / 100]);
  }
  return found;
}"""


# a number (not part of a name such as x1 or h.3), with the brackets it opens or closes and its comma
_SPLIT_NUMBERS = """(wrap) => {
  const unit = /(?<![\\w.\\[(])[\\[(]*-?(?:\\d+\\.?\\d*|\\.\\d+)(?:e[+-]?\\d+)?[\\])]*,?(?![\\w.])/gi;
  const found = [];
  wrap.querySelectorAll('.sgx-row td').forEach((td) => {
    const texts = [], walk = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
    for (let t = walk.nextNode(), at = 0; t; at += t.length, t = walk.nextNode()) texts.push([t, at]);
    const whole = texts.map(([t]) => t.data).join(''), cell = td.getBoundingClientRect();
    const place = (i) => { const [t, at] = texts.filter(([, at]) => at <= i).pop(); return [t, i - at]; };
    for (const m of whole.matchAll(unit)) {
      const range = document.createRange();
      range.setStart(...place(m.index));
      range.setEnd(...place(m.index + m[0].length - 1));
      range.setEnd(range.endContainer, range.endOffset + 1);
      const rects = Array.from(range.getClientRects()).filter((r) => r.width > 0);
      const step = td.parentNode.dataset.step;
      if (rects.some((r) => Math.abs(r.top - rects[0].top) > 2)) found.push([step, whole, m[0], 'lines']);
      const end = range.endContainer.parentElement;
      if (rects.some((r) => r.right > cell.right - parseFloat(getComputedStyle(td).paddingRight) + 0.5)
          && (getComputedStyle(end).textOverflow !== 'ellipsis' || td.title !== whole)) {
        found.push([step, whole, m[0], 'cut']);
      }
    }
  });
  return found;
}"""


_BUBBLE_POINTER = """(root) => {
  const bubble = root.querySelector('.sgx-bubble');
  if (bubble.hidden) return null;
  const b = bubble.getBoundingClientRect(), pic = root.querySelector('.sgx-picture:not([hidden])');
  const edges = pic.querySelectorAll('g.edge.sgx-active path'), node = pic.querySelector('g.node.sgx-current');
  let anchor = null;
  if (edges.length === 1) {
    const path = edges[0], p = path.getPointAtLength(path.getTotalLength() / 2), m = path.getScreenCTM();
    const x = p.x * m.a + p.y * m.c + m.e, y = p.x * m.b + p.y * m.d + m.f;
    anchor = [x, y, x, y];
  } else if (node) {
    const r = node.getBoundingClientRect();
    anchor = [r.left, r.top, r.right, r.bottom];
  }
  const colour = getComputedStyle(bubble).backgroundColor.match(/\\d+/g).slice(0, 3).map(Number);
  const found = {bubble: [b.left, b.top, b.right, b.bottom], anchor: anchor, colour: colour, pointer: null};
  const cs = getComputedStyle(bubble, '::after'), sides = ['Top', 'Right', 'Bottom', 'Left'];
  if (cs.content === 'none' || cs.display === 'none') return found;
  const width = (side) => parseFloat(cs['border' + side + 'Width']) || 0;
  const solid = sides.filter((side) => width(side) > 0 && !/rgba\\(.*, 0\\)$/.test(cs['border' + side + 'Color']));
  if (solid.length !== 1) return found;
  const x = b.left + bubble.clientLeft + parseFloat(cs.left) + parseFloat(cs.marginLeft);
  const y = b.top + bubble.clientTop + parseFloat(cs.top) + parseFloat(cs.marginTop);
  const w = width('Left') + width('Right'), h = width('Top') + width('Bottom');
  const shape = {Top: ['down', [x + w / 2, y + h], [x + w / 2, y + h / 3]],
                 Bottom: ['up', [x + w / 2, y], [x + w / 2, y + 2 * h / 3]],
                 Left: ['right', [x + w, y + h / 2], [x + w / 3, y + h / 2]],
                 Right: ['left', [x, y + h / 2], [x + 2 * w / 3, y + h / 2]]}[solid[0]];
  found.pointer = {points: shape[0], tip: shape[1], inside: shape[2]};
  return found;
}"""


_TIME_ONE_STEP = """() => {
  const started = performance.now();
  document.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowRight', bubbles: true}));
  document.body.getBoundingClientRect();  // include the layout the step causes
  return performance.now() - started;
}"""


def measure(path, browser):
    """(ms to load the page, median and worst ms per step) stepping through a saved page.

    A step is timed inside the page: the key press, the script's update and the layout."""
    page = browser.open(path)
    n = page.page.evaluate("() => JSON.parse(document.querySelector('.sgx-data').textContent).steps.length")
    times = sorted(page.page.evaluate(_TIME_ONE_STEP) for _ in range(n - 1))
    load = page.load_ms
    page.close()
    return load, times[len(times) // 2], times[-1]


if __name__ == "__main__":
    reason = unavailable()
    if reason:
        sys.exit(f"cannot measure: {reason}")
    with Browser() as chromium:
        for page_path in sys.argv[1:]:
            load_ms, median_ms, worst_ms = measure(page_path, chromium)
            print(f"{page_path}: loads in {load_ms:.0f} ms; a step takes {median_ms:.1f} ms (median), "
                  f"{worst_ms:.1f} ms at most")
