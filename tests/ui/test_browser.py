"""The page in a real headless browser: Debian's chromium driven by Playwright (its bundled
driver talks to /usr/bin/chromium; nothing is downloaded).

Screenshots of the main pages go to docs/img/ only when PTRAIN_UI_SCREENSHOTS=1, so a test run
never dirties the work tree by surprise:

    PTRAIN_UI_SCREENSHOTS=1 python -m pytest tests/ui/test_browser.py
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.ui.builder import (
    NAME,
    expected_differences,
    expected_points,
    expected_points_where,
    expected_rating_points,
)
from tests.ui.conftest import snapshot, stored_records

CHROMIUM = os.environ.get("PTRAIN_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",  # containers and CI runners have no user namespaces for the sandbox
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"

if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
    pytest.skip(
        f"chromium not found at {CHROMIUM} (apt-get install chromium, or set PTRAIN_CHROMIUM)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')"
)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, ui_server):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))

    def console(m) -> None:
        # refused API calls (the bad-input tests) are logged by chromium; anything else is a bug
        if m.type == "error" and "/api/" not in (m.location or {}).get("url", ""):
            errors.append(f"console: {m.text}")

    pg.on("console", console)
    # anything but the server under test would be a CDN or a leak: fail loudly
    outside: list[str] = []
    pg.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(ui_server.url)
            else (outside.append(route.request.url), route.abort())
        ),
    )
    pg.goto(f"{ui_server.url}?token={ui_server.token}#prompts")
    pg.wait_for_selector("main[data-ready='1'][data-page='prompts']")
    yield pg
    assert errors == [], errors
    assert outside == [], outside
    ctx.close()


def _open(pg, view: str) -> None:
    pg.click(f"nav a[data-page='{view}']")
    pg.wait_for_selector(f"main[data-ready='1'][data-page='{view}']")


def _shot(pg, name: str, full_page: bool = True) -> None:
    if os.environ.get("PTRAIN_UI_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(DOCS_IMG / f"ui-{name}.png"), full_page=full_page)


def test_prompts_page(page, ui_repo):
    rows = page.locator("#prompts-table tbody tr")
    assert rows.count() == len(ui_repo.prompt_names())
    assert page.locator("#deployed").inner_text().split() == [
        "staging:", "v2", "production:", "v1",
    ]  # fmt: skip
    timeline = page.locator("#timeline li")
    assert timeline.count() == 2 + 4  # two versions, four deploy records
    assert page.locator("#timeline li.rollback").count() == 1
    page.wait_for_selector("#diff-out span.add")
    assert "+      Reply with the label only, in lowercase." in page.inner_text("#diff-out")
    # the token came from the URL and left it (not kept in history or the address bar)
    assert "token" not in page.url
    _shot(page, "prompts")


def test_feedback_charts(page, ui_repo):
    _open(page, "feedback")
    want = expected_points(ui_repo.root)
    assert want > 20
    assert page.locator("#chart-volume circle.pt").count() == want
    per_version = {
        v: page.locator(f"#chart-volume circle.pt[data-series='{v}']").count() for v in ("v1", "v2")
    }
    assert per_version["v2"] == 6  # Nov 20-24 in production, plus today's A/B traffic
    assert page.locator("#chart-rating circle.pt").count() == expected_rating_points(ui_repo.root)
    assert page.locator("#chart-rating line.ci").count() > 0
    calls = expected_points_where(ui_repo.root, lambda r: r.get("kind") in ("success", "error"))
    timed = expected_points_where(ui_repo.root, lambda r: r.get("latency_ms") is not None)
    tokens = expected_points_where(
        ui_repo.root,
        lambda r: r.get("prompt_tokens") is not None or r.get("completion_tokens") is not None,
    )
    assert 0 < calls <= want and 0 < timed <= calls and 0 < tokens <= calls
    for chart, n in (("errors", calls), ("latency-p50", timed), ("latency-p95", timed),
                     ("tokens", tokens)):  # fmt: skip
        assert page.locator(f"#chart-{chart} circle.pt").count() == n, chart
    assert page.locator("#chart-errors line.ci").count() > 0
    # one time axis: each deploy's line is at the same place in every chart, and its label
    # sits above the plotted points, never over them
    layout = page.evaluate(
        """() => [...document.querySelectorAll("svg.chart")].map(svg => ({
          markers: [...svg.querySelectorAll("line.marker")].map(l => l.getAttribute("x1")),
          labelsBottom: Math.max(...[...svg.querySelectorAll(".marker-label")]
            .map(t => t.getBBox().y + t.getBBox().height)),
          pointsTop: Math.min(...[...svg.querySelectorAll("circle.pt")]
            .map(c => c.cy.baseVal.value - c.r.baseVal.value)),
        }))"""
    )
    # v2 to staging and production, the rollback (v1's first deploy, Oct 1, is off the axis)
    assert len(layout) == 6 and len(layout[0]["markers"]) == 3
    assert all(c["markers"] == layout[0]["markers"] for c in layout), layout
    assert all(c["labelsBottom"] <= c["pointsTop"] for c in layout), layout
    labels = page.locator("#chart-volume .marker-label").all_text_contents()
    assert "▲ v2 production" in labels and "↩ v1 production" in labels
    assert page.locator("#worst tbody tr").count() > 0
    assert "lowercase sentences break routing" in page.inner_text("#suggestions")
    _shot(page, "feedback")
    page.select_option("#env-select", "production")
    page.wait_for_selector("main[data-ready='1'][data-page='feedback']")
    assert page.locator("#chart-volume circle.pt[data-series='v2']").count() == 5


def test_rating_in_the_page_becomes_a_record(page, ui_repo):
    _open(page, "annotate")
    card = page.locator(".interaction").first
    rid = card.get_attribute("data-id")
    before = {r["id"] for r in stored_records(ui_repo.root)}
    card.locator(".thumb-down").click()
    card.locator("summary").click()
    card.locator(".comment").fill("routed to the wrong intent")
    card.locator(".submit").click()
    page.wait_for_selector("#status-msg.ok")
    new = [r for r in stored_records(ui_repo.root) if r["id"] not in before]
    assert len(new) == 1
    rec = new[0]
    assert rec["kind"] == "rating" and rec["rating"] == 0.0
    assert rec["message"] == "routed to the wrong intent"
    assert rec["metadata"]["annotates"] == rid
    assert rec["id"] in page.inner_text("#status-msg")
    _shot(page, "annotate", full_page=False)


def test_bad_input_shows_an_error_and_writes_nothing(page, ui_repo):
    _open(page, "annotate")
    before = snapshot(ui_repo.root)
    # the general form rates what `ptrain feedback add` would: the first env's deploy
    assert "rate the version deployed to staging" in page.inner_text("main h2")
    form = page.locator("#annotate-general")
    form.locator(".score").fill("1.5")
    form.locator(".submit").click()
    sync_api.expect(page.locator("#status-msg.error")).to_contain_text("rating 1.5 is out of range")
    # no token: refused as well
    page.fill("#token", "")
    form.locator(".score").fill("0.8")
    form.locator(".submit").click()
    sync_api.expect(page.locator("#status-msg.error")).to_contain_text("missing token")
    assert snapshot(ui_repo.root) == before


def test_mark_as_expected_adds_an_eval_case(page, ui_repo):
    from ptrain.evaluation.suite import load_suite

    _open(page, "annotate")
    # review the worst-rated answers: the queue switches to them, lowest rating first
    page.select_option("#queue-select", "worst")
    page.wait_for_selector("main[data-ready='1'][data-page='annotate']")
    assert "rated 0.00" in page.locator(".interaction").first.inner_text()
    card = page.locator(".interaction").filter(has=page.locator(".mark-expected")).first
    rid = card.get_attribute("data-id")
    card.locator("summary").click()
    card.locator(".expected").fill("get_weather")  # the answer it should have given
    card.locator(".mark-expected").click()
    page.wait_for_selector("#status-msg.ok")
    case = load_suite(ui_repo, NAME).cases[-1]
    assert case.source == f"feedback:{rid}" and case.expected == "get_weather"
    assert case.vars == next(r for r in stored_records(ui_repo.root) if r["id"] == rid)["inputs"]


def test_evaluations_page(page, ui_repo):
    _open(page, "evals")
    rows = page.locator("#eval-matrix tbody tr")
    assert rows.count() == 40
    assert page.locator("#eval-matrix thead th").count() == 3  # case, v1, v2
    want_differ, want_failed = expected_differences(ui_repo.root)
    assert 0 < want_differ < want_failed < 40
    page.check("input[name='matrix-filter'][value='differences']")
    shown = page.locator("#eval-matrix tbody tr:not([hidden])")
    assert shown.count() == want_differ
    assert page.inner_text("#matrix-count") == f"{want_differ} of 40 cases"
    page.check("input[name='matrix-filter'][value='failures']")
    assert shown.count() == want_failed
    assert "keep running" in page.inner_text("#ab")
    assert "ptrain/train/assistant/intent/20261126-090000" in page.inner_text("#training")
    page.check("input[name='matrix-filter'][value='differences']")
    _shot(page, "evals")
