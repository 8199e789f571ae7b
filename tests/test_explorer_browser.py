"""The explorer page in a real browser (headless Chromium driven by Playwright): saved pages are
opened from disk, clicked and keyed through, and what they show is compared with the engine."""
import pytest

from engine.trace import Summary, trace_backward
from engine.viz import explore
from engine.viz.explore.backward import grad_tag, grad_value, summary_value
from engine.viz.explore.names import derivative_text, operand
from engine.viz.explore.passes import namer
from engine.viz.explore.values import describe
from engine.viz.graph import read_graph
from explorer_browser import TEXT_OVERFLOWS, Browser, ExplorerPage, unavailable
from models.explore_cmd import EXAMPLES, example_explorer, explore_example, neuron_example
from test_explorer import OPTIMIZERS, _trained_once, xor_loss

REASON = unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


@pytest.fixture(scope="module")
def browser():
    with Browser() as chromium:
        yield chromium


def _shown(value):
    """How the page shows an array that Python described."""
    return value["lines"] if "lines" in value else value["stats"]


def _fields(panel):
    return dict((label, shown) for label, shown in panel["fields"])


def _clean(page):
    assert page.requests == [], f"the page fetched {page.requests}"
    assert page.errors == [], f"the page logged {page.errors}"


def _neuron_page(tmp_path):
    example = neuron_example()
    ex = explore(example.root, params=example.params)
    return example.root, example.params, ex, ex.save(tmp_path / "neuron.html")


def test_clicking_through_a_small_graph_shows_the_engines_gradients_at_every_step(browser, tmp_path):
    root, params, ex, path = _neuron_page(tmp_path)
    trace = trace_backward(root, params=params, max_values=16)
    graph = read_graph(root, params)
    name = namer(graph, trace)
    rows = iter(trace.rows)
    tags = {}                                           # node key -> the gradient it holds so far, from the trace
    page = browser.open(path)
    for k, step in enumerate(ex.steps):
        assert page.step == k
        panel = page.panel()
        assert panel["title"] == step["title"]
        if step["kind"] == "seed":
            tags[graph.root.key] = grad_tag(Summary(trace.grad(root), 16))
        if step["kind"] == "edge":
            row = next(rows)
            shown = _fields(panel)
            upstream = f"upstream g = ∂o/∂{operand(name(row.output_tensor))}"
            assert shown[upstream] == _shown(summary_value(row.upstream))
            assert shown["contribution = g × local"] == _shown(summary_value(row.contribution))
            assert shown[f"total at {name(row.input_tensor)}"] == _shown(summary_value(row.total))
            node = row.output_tensor._ctx                           # the op's own text, in the user's names
            names = [name(p) for p in node.parents]
            assert shown["local derivative"] == derivative_text(node, row.index, names)
            tags[graph.node_of(row.input_tensor).key] = grad_tag(row.total)
        assert page.tags() == tags, k                   # every node, intermediate ones too, shows its gradient so far
        if k < len(ex.steps) - 1:
            page.click("next")
    assert next(rows, None) is None                     # one step per edge of the backward pass
    root.backward()
    last = _fields(page.panel())
    nodes = {info["label"]: key for key, info in ex._pass_info[0]["nodes"].items()}
    for label, p in params.items():
        assert last[f"{label}.grad"] == _shown(grad_value(p.grad.data, 16)), label
        assert page.tags()[nodes[label]] == grad_tag(Summary(p.grad.data, 16))
        inspector = _fields(page.inspect(nodes[label]))
        assert inspector[f"gradient (as of step {len(ex.steps)})"] == _shown(grad_value(p.grad.data, 16)), label
    _clean(page)


@pytest.mark.parametrize("viewport", [(1280, 800), (1920, 1080)], ids=["1280x800", "1920x1080"])
def test_every_column_of_the_table_is_in_view(browser, viewport, tmp_path):
    width, height = viewport
    for name in EXAMPLES:
        ex = example_explorer(name)
        page = browser.open(ex.save(tmp_path / f"{name}.html"))
        page.page.set_viewport_size({"width": width, "height": height})
        for target in (0, len(ex) // 2, len(ex) - 1):        # the forward, the backward and the last table
            page.go(target)
            assert page.table_overflow() <= 0.5, (name, target)
        _clean(page)
        page.close()


def test_stepping_back_and_forth_moves_the_highlighted_edge(browser, tmp_path):
    _, _, ex, path = _neuron_page(tmp_path)
    page = browser.open(path)
    edges = [k for k, s in enumerate(ex.steps) if s["kind"] == "edge"]
    k = edges[3]
    page.go(k)
    assert page.highlighted() == (ex.steps[k]["item"], ex.steps[k]["edges"])
    page.press("ArrowLeft")
    assert page.step == k - 1 and page.highlighted() == (ex.steps[k - 1]["item"], ex.steps[k - 1]["edges"])
    page.click("next")
    assert page.step == k and page.highlighted() == (ex.steps[k]["item"], ex.steps[k]["edges"])
    done = page.root.locator(".sgx-picture:not([hidden]) g.edge.sgx-back").evaluate_all(
        "(gs) => gs.map((g) => g.getAttribute('data-edge'))")
    assert set(done) == {e for s in ex.steps[edges[0]:k] for e in s["edges"]} - set(ex.steps[k]["edges"])
    _clean(page)


def test_the_keyboard_steps_plays_and_jumps(browser, tmp_path):
    _, _, ex, path = _neuron_page(tmp_path)
    page = browser.open(path)
    page.press("ArrowRight")
    page.press("ArrowRight")
    assert page.step == 2
    page.press("ArrowLeft")
    assert page.step == 1
    page.press("End")
    assert page.step == len(ex.steps) - 1
    page.press("Home")
    assert page.step == 0
    page.root.locator(".sgx-speed input").fill("4")              # 4x: a step every 275 ms
    page.press(" ")
    page.page.wait_for_function("(root) => Number(root.dataset.step) >= 2", arg=page.root.element_handle())
    page.press(" ")
    stopped = page.step
    page.page.wait_for_timeout(700)
    assert page.step == stopped and "sgx-playing" not in page.root.locator(".sgx-play").get_attribute("class")
    _clean(page)


def test_clicking_a_row_jumps_to_its_step_and_reset_goes_back(browser, tmp_path):
    _, _, ex, path = _neuron_page(tmp_path)
    page = browser.open(path)
    target = len(ex.steps) - 3
    page.root.locator(f'.sgx-row[data-step="{target}"]').click()
    assert page.step == target and page.panel()["title"] == ex.steps[target]["title"]
    assert page.root.locator(".sgx-row.sgx-current-row").get_attribute("data-step") == str(target)
    page.inspect(ex.steps[target]["item"])
    page.click("reset")
    assert page.step == 0 and page.root.locator(".sgx-inspect").is_hidden()
    _clean(page)


def test_a_node_not_yet_computed_says_so_and_shows_its_value_once_it_is(browser, tmp_path):
    _, _, ex, path = _neuron_page(tmp_path)
    page = browser.open(path)
    op = next(k for k, s in enumerate(ex.steps) if s["kind"] == "op")
    key = ex.steps[op]["item"]
    assert "not computed yet" in page.inspect(key)["text"]
    page.go(op)
    value = ex._pass_info[0]["nodes"][key]["value"]
    assert _fields(page.inspect(key))["value"] == _shown(value)
    _clean(page)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_every_example_steps_to_the_end_and_shows_the_leaves_grad(name, browser, tmp_path):
    example = EXAMPLES[name]()
    ex = explore_example(example)
    page = browser.open(ex.save(tmp_path / f"{name}.html"))
    grads_step = next(k for k, s in enumerate(ex.steps) if s["kind"] == "grads")
    for _ in range(grads_step):
        page.press("ArrowRight")
    assert page.step == grads_step
    root = example.root() if callable(example.root) else example.root    # the first iteration's loss
    root.backward()
    named = example.params.named_parameters() if hasattr(example.params, "named_parameters") else example.params.items()
    last = _fields(page.panel())
    for param, p in named:
        assert last[f"{param}.grad"] == _shown(grad_value(p.grad.data, 16)), param
    page.press("End")
    assert page.step == len(ex.steps) - 1
    assert page.panel()["phase"].startswith("UPDATE" if example.optimizer else "BACKWARD")
    page.screenshot(tmp_path / f"{name}.png")
    assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    _clean(page)


@pytest.mark.parametrize("name", ["mlp", "gpt"])
def test_gradient_tags_cover_no_box_label_or_other_tag_no_space_is_dropped_no_text_spills(name, browser, tmp_path):
    ex = example_explorer(name)
    page = browser.open(ex.save(tmp_path / f"{name}.html"))
    assert page.dropped_spaces() == []                  # e.g. "<B>forward view</B> of X" read "forward viewof X"
    assert page.text_overflows() == []                  # e.g. "(12, 64, 128) float32" past its box's border
    done = next(k for k, s in enumerate(ex.steps) if s["kind"] == "grads")  # every node holds its gradient
    page.go(done)
    assert len(page.tags()) > 5
    assert page.tag_overlaps() == []
    _clean(page)


@pytest.mark.parametrize("name", ["mlp", "gpt"])
def test_the_bubble_covers_no_frame_title_node_label_or_tag_and_is_in_view_at_any_step(name, browser, tmp_path):
    ex = example_explorer(name)
    page = browser.open(ex.save(tmp_path / f"{name}.html"))
    shown, covered = 0, {}                              # covered: step -> what the bubble covers there
    for k in range(len(ex.steps)):
        assert page.step == k
        found = page.bubble_overlaps()
        shown += found is not None
        if found:
            covered[k] = found
        page.press("ArrowRight")
    assert shown > 20                                   # the bubble was there to be checked
    assert covered == {}, f"at {len(covered)} of {len(ex.steps)} steps: {covered}"
    _clean(page)


@pytest.mark.parametrize("name", ["mlp", "gpt"])
def test_no_number_of_the_table_is_split_across_lines_or_cut_without_an_ellipsis(name, browser, tmp_path):
    # a narrow column broke "[[0.1417], [-0.2816]" into "[[0.1417" / "]," / "[-0.281…", "norm=0.01119" into
    # "norm=0.0" / "1119"
    ex = example_explorer(name)
    page = browser.open(ex.save(tmp_path / f"{name}.html"))
    split = {}
    for k in range(len(ex.steps)):
        assert page.step == k
        split.update({(row, unit): (cell, how) for row, cell, unit, how in page.split_numbers()})
        page.press("ArrowRight")
    page.page.set_viewport_size({"width": 1000, "height": 700})     # columns too narrow for some numbers
    cut = page.root.locator(".sgx-whole").evaluate_all("(es) => es.filter((e) => e.scrollWidth > e.clientWidth)")
    assert len(cut) > 0
    split.update({(row, unit): (cell, how) for row, cell, unit, how in page.split_numbers()})
    assert split == {}, f"{len(split)} numbers split: {list(split.items())[:8]}"
    _clean(page)


def test_the_caption_above_the_graph_names_the_phase_shown(browser, tmp_path):
    # it said "forward view ... arrows: data flowing forward" during the backward pass and the update
    ex = example_explorer("mlp")
    page = browser.open(ex.save(tmp_path / "mlp.html"))
    words = {"forward": "forward", "check": "converged?", "backward": "backward", "update": "update"}
    for phase, word in words.items():
        page.go(next(k for k, s in enumerate(ex.steps) if s["phase"] == phase))
        caption = page.caption()
        assert word in caption, (phase, caption)
        assert [w for p, w in words.items() if p != phase and w in caption] == [], (phase, caption)
    _clean(page)


def _side(bubble, anchor):
    """Where a bubble sits from its anchor (rectangles [left, top, right, bottom] on the screen): 'above',
    'below', 'left' or 'right' when it faces it (across from it, the middle 28 pixels of its width or 12 of its
    height clear of its rounded corners) with room for a pointer (6 pixels) between them, else None."""
    left, top, right, bottom = bubble
    a_left, a_top, a_right, a_bottom = anchor
    facing_x = max(left + 14, a_left) <= min(right - 14, a_right)
    facing_y = max(top + 6, a_top) <= min(bottom - 6, a_bottom)
    if bottom + 6 <= a_top + 0.5:
        return "above" if facing_x else None
    if top - 6 >= a_bottom - 0.5:
        return "below" if facing_x else None
    if right + 6 <= a_left + 0.5:
        return "left" if facing_y else None
    if left - 6 >= a_right - 0.5:
        return "right" if facing_y else None
    return None


def _pointer_problem(page, found):
    """What is wrong with the pointer of the bubble `found` (see `ExplorerPage.bubble_pointer`), or None."""
    side, pointer, anchor = _side(found["bubble"], found["anchor"]), found["pointer"], found["anchor"]
    if side is None:
        return pointer and "a pointer, but the bubble does not face its anchor"
    if pointer is None:
        return f"no pointer on the bubble {side} its anchor"
    wanted = {"above": "down", "below": "up", "left": "right", "right": "left"}[side]
    if pointer["points"] != wanted:
        return f"the bubble {side} its anchor points {pointer['points']}"
    (x, y), (a_left, a_top, a_right, a_bottom) = pointer["tip"], anchor
    across = (a_left - 1.5 <= x <= a_right + 1.5) if wanted in ("up", "down") else (a_top - 1.5 <= y <= a_bottom + 1.5)
    ahead = {"down": y <= a_top + 0.5, "up": y >= a_bottom - 0.5, "right": x <= a_left + 0.5,
             "left": x >= a_right - 0.5}[wanted]
    if not (across and ahead):
        return f"the tip {pointer['tip']} misses the anchor {anchor}"
    shown = page.colour_at(*pointer["inside"])
    if max(abs(a - b) for a, b in zip(shown, found["colour"])) > 24:
        return f"the pointer does not show: {shown} where it is, the bubble {found['colour']}"
    return None


@pytest.mark.parametrize("name", ["linreg", "mlp", "gpt"])
def test_the_bubbles_pointer_shows_and_points_at_the_arrow_or_node_of_the_step(name, browser, tmp_path):
    # the pointer sat below the bubble wherever the bubble went, and the bubble's own edge cut it off
    ex = example_explorer(name)
    page = browser.open(ex.save(tmp_path / f"{name}.html"))
    sides, wrong = {}, {}
    for k in range(len(ex.steps)):
        found = page.bubble_pointer()
        if found and found["anchor"]:
            side = _side(found["bubble"], found["anchor"])
            sides[side] = sides.get(side, 0) + 1
            problem = _pointer_problem(page, found)
            if problem:
                wrong[k] = problem
        page.press("ArrowRight")
    assert wrong == {}, f"at {len(wrong)} steps: {wrong}"
    assert {"above", "below", "left", "right"} <= set(sides), sides     # each placement was seen
    _clean(page)


# every run of text followed at once by another on its line (not the next cell of a table): its text, its
# width in the browser, and the width Graphviz gave it
_RUN_WIDTHS = """() => {
  const texts = Array.from(document.querySelectorAll('text'));
  return texts.slice(0, -1).map((t, i) => [t, texts[i + 1]])
    .filter(([t, next]) => t.nextElementSibling === next && t.getAttribute('y') === next.getAttribute('y')
            && t.getAttribute('text-anchor') === 'start' && next.getAttribute('text-anchor') === 'start')
    .map(([t, next]) => [t.textContent, t.getComputedTextLength(),
                         Number(next.getAttribute('x')) - Number(t.getAttribute('x'))]);
}"""


def test_a_saved_svg_shows_its_text_as_wide_as_graphviz_measured_it(browser, tmp_path):
    # Graphviz places each font run after the previous one at the width it measured; a browser that picks
    # another font leaves gaps or overlaps ("forward view      of GPT")
    from engine.viz import draw_graph, save_graph
    from test_viz import _net_loss
    net, loss = _net_loss()
    path = save_graph(draw_graph(loss, params=net, depth=None), tmp_path / "graph.svg")
    page = ExplorerPage(browser.context.new_page(), path, wait_for="svg")
    runs = page.page.evaluate(_RUN_WIDTHS)
    assert len(runs) > 5
    assert [r for r in runs if abs(r[1] - r[2]) > 0.5] == []  # each run as wide as Graphviz measured it
    _clean(page)


@pytest.mark.parametrize("model, view, check", [("linreg", "backward", True), ("linreg", "forward", True),
                                               ("mlp", "forward", False), ("mlp", "backward", True),
                                               ("gpt", "forward", False), ("gpt", "backward", False)])
def test_no_text_of_a_saved_svg_is_wider_than_its_box(browser, tmp_path, model, view, check):
    # Graphviz sizes each box by its own measure of the text (whole pixels per letter); a browser draws the
    # same font a few percent wider, and "analytic -5.14806, numeric -5.14806" ran past its cell
    from engine.viz import save_graph
    from models.graph_cmd import model_graph
    path = save_graph(model_graph(model, view=view, check=check), tmp_path / f"{model}.svg")
    page = ExplorerPage(browser.context.new_page(), path, wait_for="svg")
    assert page.page.locator("svg text").count() > 20
    assert page.page.locator("svg").evaluate(TEXT_OVERFLOWS) == []
    _clean(page)


@pytest.mark.parametrize("kind", ["sgd", "sgd-momentum", "adam"])
def test_the_values_after_the_update_phase_are_those_after_opt_step(kind, browser, tmp_path):
    model, opt = _trained_once(OPTIMIZERS[kind])
    loss = xor_loss(model)
    ex = explore(loss, params=model, optimizer=opt)
    page = browser.open(ex.save(tmp_path / f"{kind}.html"))
    page.press("End")
    shown = _fields(page.panel())
    opt.zero_grad()
    loss.backward()
    opt.step()
    for name, p in model.named_parameters():
        assert shown[name] == _shown(describe(p.data, 16)), name
    assert page.root.locator(".sgx-picture:not([hidden]) g.node.sgx-updated").count() == 4
    _clean(page)


def test_the_training_loop_strip_follows_the_phases_across_iterations(browser, tmp_path):
    ex = explore_example(EXAMPLES["linreg"]())
    page = browser.open(ex.save(tmp_path / "linreg.html"))
    lit = lambda: page.root.locator(".sgx-stage.sgx-stage-on").get_attribute("data-stage")  # noqa: E731
    seen = []
    for k, s in enumerate(ex.steps):
        assert lit() == s["flow"] and page.step == k
        if not seen or seen[-1] != s["flow"]:
            seen.append(s["flow"])
        page.press("ArrowRight")
    assert seen == ["init", "loss", "check", "grad", "update"] + ["loss", "check", "grad", "update"] * 2
    assert "iteration 3 of 3" in page.root.locator(".sgx-progress").inner_text()
    page.root.locator('.sgx-stage[data-stage="grad"]').click()          # jumps within the iteration shown
    assert ex.steps[page.step]["flow"] == "grad" and ex.steps[page.step]["pass"] == 2
    _clean(page)


def test_two_explorers_on_one_notebook_page_work_apart(browser, tmp_path):
    example = neuron_example()
    ex = explore(example.root, params=example.params)
    notebook = tmp_path / "notebook.html"
    notebook.write_text(f"<!DOCTYPE html><meta charset='utf-8'><body>{ex._repr_html_()}<hr>{ex._repr_html_()}",
                        encoding="utf-8")
    page = browser.open(notebook)
    assert page.page.locator(".sgx").count() == 2
    page.index = 1
    page.press("ArrowRight")
    page.click("next")
    assert page.step == 2 and page.highlighted()[0] == ex.steps[2]["item"]
    page.index = 0
    assert page.step == 0 and page.highlighted() == (None, [])
    page.press("End")
    assert page.step == len(ex.steps) - 1
    page.index = 1
    assert page.step == 2
    _clean(page)


def test_a_tensor_and_a_trace_show_in_a_notebook(browser, tmp_path):
    from engine import Tensor

    a = Tensor([1.0, 2.0], requires_grad=True, name="a")
    loss = (a * a).sum()
    trace = trace_backward(loss)
    notebook = tmp_path / "cells.html"
    notebook.write_text(f"<!DOCTYPE html><meta charset='utf-8'><body>{a._repr_html_()}{trace._repr_html_()}",
                        encoding="utf-8")
    page = browser.open_plain(notebook)
    assert page.page.locator("table tbody tr").count() == len(trace.rows)
    assert "Tensor a" in page.page.inner_text("body") and "[1, 2]" in page.page.inner_text("body")
    _clean(page)
