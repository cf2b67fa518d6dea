"""A real Chromium (Debian's ``chromium`` + ``chromium-driver``, driven by Selenium) and
a real ``pyresque web`` process, for the browser tests and the docs' screenshots.

:func:`chromium_paths` says where the browser and its driver are (``None`` when
missing); :func:`start_browser` starts a headless Chromium with its console log kept;
:func:`start_dashboard` runs ``python -m pyresque web`` on a free port and waits until it
answers.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.redis_server import free_port

__all__ = ["chromium_paths", "dashboard", "start_browser"]

ROOT = Path(__file__).resolve().parents[2]


def chromium_paths() -> tuple[str, str] | None:
    """(browser, driver) paths, or None when either is missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        return None
    return browser, driver


def start_browser(width: int = 1280, height: int = 900):  # type: ignore[no-untyped-def]
    """A headless Chromium under Selenium (the driver given by path: nothing is downloaded)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths = chromium_paths()
    if paths is None:
        raise FileNotFoundError("chromium and chromium-driver are not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=paths[1]), options=options)


@contextlib.contextmanager
def dashboard(redis_url: str, *args: str) -> Iterator[str]:
    """``pyresque web`` serving ``redis_url`` on a free loopback port; yields its base URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "pyresque", "web", "--redis", redis_url, "--port", str(port), *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(base + "/static/app.css", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"pyresque web did not start: {err}") from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
