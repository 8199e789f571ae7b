"""The explorer page in a real browser (headless Chromium driven by Playwright): saved pages are
opened from disk, clicked and keyed through, and what they show is compared with the engine."""
import pytest

from engine.trace import trace_backward
from engine.viz import explore
from engine.viz.explore.backward import grad_value, summary_value
from explorer_browser import Browser, unavailable
from models.explore_cmd import EXAMPLES, neuron_example

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
    root, params = neuron_example()
    ex = explore(root, params=params)
    return root, params, ex, ex.save(tmp_path / "neuron.html")


def test_clicking_through_a_small_graph_shows_the_engines_gradients_at_every_step(browser, tmp_path):
    root, params, ex, path = _neuron_page(tmp_path)
    rows = iter(trace_backward(root, params=params, max_values=16).rows)
    page = browser.open(path)
    for k, step in enumerate(ex.steps):
        assert page.step == k
        panel = page.panel()
        assert panel["title"] == step["title"]
        if step["kind"] == "edge":
            row = next(rows)
            shown = _fields(panel)
            assert shown[f"upstream g = ∂o/∂{row.node}"] == _shown(summary_value(row.upstream))
            assert shown["contribution = g × local"] == _shown(summary_value(row.contribution))
            assert shown[f"total at {row.parent}"] == _shown(summary_value(row.total))
            assert shown["local derivative"] == row.local
        if k < len(ex.steps) - 1:
            page.click("next")
    assert next(rows, None) is None                     # one step per edge of the backward pass
    root.backward()
    last = _fields(page.panel())
    nodes = {info["label"]: key for key, info in ex._pass_info[0]["nodes"].items()}
    for name, p in params.items():
        assert last[f"{name}.grad"] == _shown(grad_value(p.grad.data, 16)), name
        inspector = _fields(page.inspect(nodes[name]))
        assert inspector[f"gradient (as of step {len(ex.steps)})"] == _shown(grad_value(p.grad.data, 16)), name
    _clean(page)


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
@pytest.mark.parametrize("example", list(EXAMPLES))
def test_every_example_steps_to_the_end_and_shows_the_leaves_grad(example, browser, tmp_path):
    what, make, depth = EXAMPLES[example]
    root, params = make()
    ex = explore(root, params=params, depth=depth)
    page = browser.open(ex.save(tmp_path / f"{example}.html"))
    for _ in range(len(ex.steps) - 1):
        page.press("ArrowRight")
    assert page.step == len(ex.steps) - 1
    root.backward()
    named = params.named_parameters() if hasattr(params, "named_parameters") else params.items()
    last = _fields(page.panel())
    for name, p in named:
        assert last[f"{name}.grad"] == _shown(grad_value(p.grad.data, 16)), name
    page.screenshot(tmp_path / f"{example}.png")
    assert (tmp_path / f"{example}.png").stat().st_size > 10_000
    _clean(page)


def test_two_explorers_on_one_notebook_page_work_apart(browser, tmp_path):
    root, params = neuron_example()
    ex = explore(root, params=params)
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
