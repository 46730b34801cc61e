"""What the review app's tests share: the real `python -m recipes.review serve` process, Debian's headless Chromium
through Selenium (flags for this closed network, the console log kept), and the steps a reviewer takes in it."""

from __future__ import annotations

import contextlib
import http.server
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "outputs" / "review-screenshots"  # git-ignored; CI keeps them for a person to look at
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SKIP_REASON = "no chromium/chromedriver: run tests/browser_env.sh (Debian's chromium, chromium-driver, fonts)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python -m recipes.review serve` as a child process that a test can kill (SIGKILL) and start again."""

    def __init__(self, db_url: str, log_path, *extra: str):
        self.db_url, self.port, self.log_path, self.proc, self.extra = db_url, free_port(), log_path, None, extra
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "recipes.review",
                    "--db",
                    self.db_url,
                    "serve",
                    "--port",
                    str(self.port),
                    *self.extra,
                ],
                env=env,
                cwd=REPO,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError(f"the review server did not start; see {self.log_path}")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


def start_chromium(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console messages, CSP violations included
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    return driver


def login(driver, server: Server, token: str) -> None:
    """Through the login form, as a reviewer does."""
    from selenium.webdriver.common.by import By

    driver.get(f"{server.url}/")
    driver.delete_all_cookies()
    driver.get(f"{server.url}/")
    driver.find_element(By.ID, "token").send_keys(token)
    submit(driver, "login")


def submit(driver, button: str = "submit") -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, button).click()
    WebDriverWait(driver, 20).until(lambda d: old.id != d.find_element(By.TAG_NAME, "html").id)


def choose(driver, name: str, side: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, f"input[name='{name}'][value='{side}']").click()


def http_client(server: Server, token: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, cookies={"review_token": token}, timeout=30)


def form_fields(client: httpx.Client, path: str = "/review") -> dict[str, str]:
    page = client.get(path).text
    return {
        "item_id": re.search(r'name="item_id" value="(\d+)"', page).group(1),
        "csrf": re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1),
    }


@contextlib.contextmanager
def cross_site(page: bytes) -> Iterator[str]:
    """An attacker's page served from another site than the app's 127.0.0.1 (localhost), for as long as the block
    runs; yields its URL. Threaded, so a browser's preconnect does not block the page itself."""

    class Attacker(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    attacker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Attacker)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        yield f"http://localhost:{attacker.server_port}/"
    finally:
        attacker.shutdown()
