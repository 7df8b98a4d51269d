"""The page in headless Chromium against the real server: upload a real clip, read the bars and the plot."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        yield browser
        browser.close()


def test_the_page_labels_an_uploaded_clip_like_the_cli(browser, live_server, clips, cli_predictions, tmp_path,
                                                        artifacts):
    url, _, _ = live_server
    clip = clips / "test.mp4"
    expected = cli_predictions(clip)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    outside: list[str] = []
    page.on("request", lambda request: None if request.url.startswith(url) or request.url.startswith("blob:")
            else outside.append(request.url))

    page.goto(f"{url}/")
    page.wait_for_selector("#model:has-text('approaching')")
    page.set_input_files("#file", str(clip))
    page.wait_for_selector("#bars .bar", timeout=60_000)
    page.wait_for_selector("#plot svg polyline.line", timeout=60_000)

    assert page.text_content("#top-label") == expected["label"]
    shown = page.locator("#bars .bar-label").all_text_contents()
    assert shown == [t["label"] for t in expected["top"]]
    values = [float(v) for v in page.locator("#bars .value").all_text_contents()]
    assert values == pytest.approx([t["probability"] for t in expected["top"]], abs=6e-4)
    assert page.locator("#plot svg polyline.line").count() == 2  # one smoothed line per class
    assert page.locator("#plot svg rect.segment").count() == page.locator("#segments tr").count() >= 1
    page.wait_for_function("document.querySelector('#video').src.includes('/v1/jobs/')")  # the annotated video
    page.wait_for_function("document.querySelector('#video').readyState >= 1")  # ... which Chromium can play
    assert page.evaluate("document.querySelector('#video').duration") == pytest.approx(10.0, abs=0.2)
    assert page.is_visible("#now-label")

    plot = page.locator("#plot svg")
    box = plot.bounding_box()
    plot.hover(position={"x": box["width"] * 0.5, "y": box["height"] * 0.4})
    tooltip = page.locator("#tooltip")
    tooltip.wait_for(state="visible")
    assert "approaching" in tooltip.text_content() and "receding" in tooltip.text_content()

    shot = tmp_path / "serve-page.png"
    page.screenshot(path=str(shot), full_page=True)
    shutil.copy(shot, artifacts / shot.name)
    assert shot.stat().st_size > 10_000
    assert problems == [] and outside == []
    page.close()


def test_the_page_says_what_to_do_before_an_upload_and_draws_a_one_window_timeline(browser, live_server, clips):
    """Before any upload: no "computing..." and no empty player, a line that says what to do. A clip shorter
    than two windows gives one window, drawn as one point per class (a one-point polyline draws nothing)."""
    url, _, _ = live_server
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{url}/")
    page.wait_for_selector("#model:has-text('approaching')")
    assert page.is_visible("#empty") and "drop one" in page.text_content("#empty")
    assert not page.is_visible("#results") and not page.is_visible("#video") and not page.is_visible("#status")
    assert not page.locator("text=computing").is_visible()

    page.set_input_files("#file", str(clips / "short32.mp4"))  # 1.07 s
    page.wait_for_selector("#plot svg", timeout=60_000)
    assert not page.is_visible("#empty")
    assert page.locator("#plot svg circle.point").count() == 2  # one window, a point per class
    assert sorted(page.locator("#plot svg circle.point").evaluate_all("els => els.map(e => e.dataset.label)")) == [
        "approaching", "receding"]
    assert problems == []
    page.close()


def test_the_page_shows_a_regression_models_value(browser, regression_run, tmp_path):
    from vidclass.data.synthetic_recordings import make_speed_dataset
    from vidclass.estimator.regressor import VideoRegressor
    from vidclass.serve.loadtest import running_server

    model_dir, _, _ = regression_run
    clip = make_speed_dataset(tmp_path / "long", clips=1, seconds=4.0, fps=8, size=32, seed=3) / "clip_000.mp4"
    expected = float(VideoRegressor.load(model_dir, cache_dir=tmp_path / "cache").predict([clip])[0])
    with running_server(model_dir, "--workers", "1", log=tmp_path / "server.log") as (url, _):
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(f"{url}/")
        page.wait_for_selector("#model:has-text('regression model')")
        page.set_input_files("#file", str(clip))
        page.wait_for_selector("#plot svg polyline.line", timeout=60_000)
        page.wait_for_function("document.querySelector('#top-label').textContent !== '…'", timeout=60_000)
        assert float(page.text_content("#top-label")) == pytest.approx(expected, rel=1e-3, abs=1e-3)
        assert page.text_content("#top-name") == "value" and page.locator("#bars .bar").count() == 0
        assert page.locator("#plot svg polyline.line").count() == 1  # the smoothed value over time
        assert page.get_attribute("#plot svg", "aria-label") == "values over time"
        assert not page.is_visible("#segments-title") and page.locator("#segments tr").count() == 0
        page.wait_for_function("document.querySelector('#now-label').textContent.startsWith('value ')")
        assert problems == []
        page.close()
