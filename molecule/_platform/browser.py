"""Debian's chromium, headless, driven by its chromedriver over the WebDriver protocol (W3C), for the checks that
look at a web page as an operator does: what the page shows, and a screenshot of it.

    with Browser() as browser:
        browser.open("http://127.0.0.1:5555/workers")
        browser.text("body"); browser.screenshot(path)

No client library: WebDriver is JSON over HTTP (https://www.w3.org/TR/webdriver2/).
"""

import base64
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
# The W3C name of an element reference in WebDriver answers.
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def missing() -> str:
    """Why the browser checks cannot run here, or '' (scripts/platform.sh installs both)."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    if not shutil.which("chromedriver"):
        return "chromedriver is not installed (apt-get install chromium-driver)"
    return ""


class Browser:
    def __init__(self, width: int = 1400, height: int = 900):
        self.size = (width, height)

    def __enter__(self) -> "Browser":
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.driver = subprocess.Popen(
            [shutil.which("chromedriver"), f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                self._call("GET", "/status")
                break
            except OSError:
                time.sleep(0.1)
        options = {
            "binary": CHROMIUM,
            # Root in a VM or a container has no user namespace sandbox to give chromium.
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={self.size[0]},{self.size[1]}"],
        }
        answer = self._call("POST", "/session", {"capabilities": {"alwaysMatch": {"goog:chromeOptions": options}}})
        self.session = f"/session/{answer['sessionId']}"
        return self

    def __exit__(self, *_exc) -> None:
        try:
            self._call("DELETE", self.session)
        finally:
            self.driver.terminate()
            self.driver.wait(timeout=10)

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return json.loads(answer.read()).get("value")
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"WebDriver {method} {path}: {error.read().decode()[:500]}") from error

    def headers(self, headers: dict[str, str]) -> None:
        """Send these headers with every request (chromium's DevTools, through chromedriver)."""
        self._call("POST", f"{self.session}/goog/cdp/execute", {"cmd": "Network.enable", "params": {}})
        self._call(
            "POST",
            f"{self.session}/goog/cdp/execute",
            {"cmd": "Network.setExtraHTTPHeaders", "params": {"headers": headers}},
        )

    def login(self, user: str, password: str) -> None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.headers({"Authorization": f"Basic {token}"})

    def open(self, url: str) -> None:
        self._call("POST", f"{self.session}/url", {"url": url})

    def text(self, css: str = "body") -> str:
        element = self._call("POST", f"{self.session}/element", {"using": "css selector", "value": css})
        return self._call("GET", f"{self.session}/element/{element[ELEMENT]}/text")

    def wait_for_text(self, wanted: list[str], css: str = "body", timeout: float = 30) -> str:
        """The element's text, without white space, once it holds every string of `wanted` (or at the timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                seen = self.text(css)
            except RuntimeError:
                seen = ""
            # A table cell may wrap a long name over lines: compare without white space.
            if all(part in "".join(seen.split()) for part in wanted) or time.monotonic() > deadline:
                return "".join(seen.split())
            time.sleep(1)

    def title(self) -> str:
        return self._call("GET", f"{self.session}/title")

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self._call("GET", f"{self.session}/screenshot")))
