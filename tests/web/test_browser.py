"""End to end in headless Chromium (Debian's, driven by Playwright): type a query, see the right thumbnail
first, open a video hit and check the player starts at the matched moment, albums; saves a screenshot."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ci_skips import provided_reason
from websample import REPO, Sample

CHROMIUM = os.environ.get("CHRONICON_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--autoplay-policy=no-user-gesture-required"]  # fmt: skip

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=provided_reason(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)"),
)


@pytest.fixture(scope="module")
def server(web_sample: Sample) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port, in a background thread."""
    import uvicorn

    from chronicon.web import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(web_sample.library), host="127.0.0.1", port=port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        tab = context.new_page()
        tab.set_default_timeout(15_000)
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.goto(server + "/")
        tab.wait_for_selector("body[data-ready]")
        yield tab
        browser.close()
        assert not errors, errors


def search(page: Any, query: str, kind: str = "") -> Any:
    if not page.locator("#filters").evaluate("d => d.open"):
        page.locator("#filters summary").click()
    page.get_by_test_id("filter-kind").select_option(kind)
    page.get_by_test_id("search-box").fill(query)
    page.get_by_test_id("search-button").click()
    page.wait_for_function("q => document.querySelector('#title').textContent.includes(q)", arg=query)
    first = page.get_by_test_id("result").first
    first.wait_for()
    return first


def test_search_shows_the_cat_first(page: Any, record_property: Any) -> None:
    first = search(page, "cat", kind="image")
    assert first.get_attribute("data-name") == "chelsea.jpg"
    thumb = first.get_by_test_id("thumb")
    thumb.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
    assert "results for" in page.get_by_test_id("title").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "web-search.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    record_property("screenshot", str(shot))  # in the JUnit XML report
    print(f"screenshot: {shot}")


def test_the_viewer_shows_what_the_photo_manager_recorded(page: Any) -> None:
    first = search(page, "cat", kind="image")
    first.click()
    page.get_by_test_id("detail-photo").wait_for()
    assert page.get_by_test_id("meta-rating").inner_text() == "★★★★★"
    assert page.get_by_test_id("meta-keywords").inner_text() == "tabby"
    assert page.get_by_test_id("meta-people").inner_text() == "Chelsea"
    page.get_by_test_id("detail-close").click()
    page.get_by_test_id("detail").wait_for(state="hidden")


def test_video_hit_plays_from_the_matched_moment(page: Any, web_sample: Sample) -> None:
    first = search(page, "rocket", kind="video")
    assert first.get_attribute("data-name") == web_sample.video.name
    expected = float(first.get_attribute("data-t-start"))  # the moment: the shot's best-matching frame
    assert web_sample.cuts[1] - 0.4 <= expected < web_sample.cuts[1] + 3.0  # (the shot that shows the rocket)
    first.click()
    player = page.get_by_test_id("player")
    player.wait_for()
    page.wait_for_function("() => document.querySelector('video').dataset.ready === '1'", timeout=20_000)
    current = float(player.evaluate("v => v.currentTime"))
    assert current == pytest.approx(expected, abs=1.0)
    assert page.get_by_test_id("transcript").is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-video.png"))
    page.get_by_test_id("detail-close").click()
    page.get_by_test_id("detail").wait_for(state="hidden")


def test_albums_when_the_plugin_is_there(page: Any, server: str) -> None:
    import httpx

    meta = httpx.get(server + "/api/meta").json()
    assert meta["albums"], "the web sample enables the albums plugin: its routes must be there"
    assert page.get_by_test_id("albums-link").is_visible()
    search(page, "coffee cup", kind="image")
    page.get_by_test_id("album-name").fill("coffee-browser-test")
    page.get_by_test_id("album-save").click()
    page.wait_for_function("() => document.querySelector('#grid').dataset.album === 'coffee-browser-test'")
    items = page.get_by_test_id("result")
    assert items.count() >= 1 and items.first.get_attribute("data-name") == "coffee.jpg"
    page.get_by_test_id("albums-link").click()
    page.get_by_test_id("album-list").wait_for()
    assert "coffee-browser-test" in page.get_by_test_id("album-list").inner_text()
    page.get_by_test_id("album").filter(has_text="coffee-browser-test").click()
    page.wait_for_function("() => document.querySelector('#grid').dataset.album === 'coffee-browser-test'")
    page.screenshot(path=str(ARTIFACTS / "web-album.png"))
