"""The screenshots of docs/web.md, made through the browser tests' Chromium.

Run ``.venv/bin/python -m tests.e2e.screenshots`` from the repository root: it starts a
throwaway redis-server, writes the tests' data (:func:`tests.e2e.seed.seed`), runs a
real worker so the throughput chart moves, serves ``pyresque web`` and saves
``docs/images/web-<page>.png``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pyresque import Resque
from tests.e2e.browser import ROOT, dashboard, start_browser
from tests.e2e.seed import seed
from tests.redis_server import RedisServer
from tests.worker_proc import start_worker, wait_for

OUT = ROOT / "docs" / "images"
SHOTS = [
    ("overview", "/"),
    ("queues", "/queues"),
    ("queue", "/queue?name=mail"),
    ("workers", "/workers"),
    ("failed", "/failed"),
    ("failed-search", "/failed?q=division"),
    ("delayed", "/delayed"),
    ("schedule", "/schedule"),
    ("stats", "/stats"),
]


def main(out: Path = OUT) -> list[Path]:
    """Save every screenshot; their paths."""
    out.mkdir(parents=True, exist_ok=True)
    server = RedisServer()
    server.start()
    saved = []
    try:
        app = Resque(server.url)
        seed(app)
        for i in range(4000):
            app.enqueue("live", "sleeper", 0.002, i)
        worker = start_worker(server.url, "live")
        browser = start_browser(1280, 860)
        try:
            with dashboard(server.url) as base:
                browser.get(base + "/")
                browser.find_element("css selector", "#interval").send_keys("1 s")
                browser.refresh()
                wait_for(
                    lambda: (
                        browser.find_element("css selector", "#live-status").get_attribute("class") == "on"
                    )
                )
                time.sleep(8)  # eight live ticks: the chart has a line to show
                for name, path in SHOTS:
                    if path != "/":
                        browser.get(base + path)
                    if name == "failed":
                        boxes = browser.find_elements("css selector", "#bulk input[name=ref]")
                        for box in boxes[1:3]:
                            box.click()
                        browser.find_element("css selector", "details").click()
                    target = out / f"web-{name}.png"
                    browser.save_screenshot(str(target))
                    saved.append(target)
        finally:
            browser.quit()
            worker.terminate()
            worker.wait(15)
        app.close()
    finally:
        server.close()
    return saved


if __name__ == "__main__":
    for path in main():
        sys.stdout.write(f"{path.relative_to(ROOT)}\n")
