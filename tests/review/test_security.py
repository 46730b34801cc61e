"""The review app against a hostile or careless client, on a real server process: a large body refused by its
declared size before anything reads it (and /healthz answering meanwhile), login forms from another site or without
the form's token refused, crafted values answered with a 4xx (never a 500), logout, the cookie's lifetime and
Secure option, and the `reviewer add|list|revoke` commands."""

from __future__ import annotations

import re
import socket
import threading
import time

import httpx
import pytest

from recipes.review.store import NewItem, Store
from tests.helpers.review_browser import Server, cross_site, http_client, login, submit

By = pytest.importorskip("selenium.webdriver.common.by", reason="selenium not installed: pip install -e '.[test]'").By
HUGE = 32 * 1024 * 1024


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("review-security")
    store = Store(f"sqlite:///{folder / 'review.db'}")
    store.set_comparison("sec-0.1.0", "sec-0.2.0")
    store.add_items([NewItem("th", f"th-{i}", f"คำถาม {i}", f"คำตอบ A {i}", f"คำตอบ B {i}") for i in range(3)])
    tokens = {name: store.add_reviewer(name, ["th"]) for name in ("victim", "attacker", "crafty", "leaver")}
    server = Server(f"sqlite:///{folder / 'review.db'}", folder / "server.log")
    server.start()
    yield server, store, tokens, folder
    server.kill()


def raw_post(server: Server, path: str, headers: str, body: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n{headers}\r\n".encode() + body)
    return sock


def status_of(sock: socket.socket) -> int:
    head = sock.recv(4096).decode("latin-1")
    return int(head.split(" ", 2)[1])


def test_a_32mb_post_is_refused_at_once_and_healthz_keeps_answering(guarded):
    server, *_ = guarded
    form = "Content-Type: application/x-www-form-urlencoded\r\n"
    # The declared size alone is refused: no cookie, only 64 KiB of the 32 MiB sent, the answer comes anyway.
    start = time.monotonic()
    sock = raw_post(server, "/verdict", f"{form}Content-Length: {HUGE}\r\n", b"comment=" + b"a" * 65536)
    assert status_of(sock) == 413 and time.monotonic() - start < 2
    sock.close()
    sock = raw_post(server, "/verdict", f"{form}Transfer-Encoding: chunked\r\n", b"10000\r\n" + b"a" * 65536)
    assert status_of(sock) == 411  # no declared size: refused too (browsers always declare one)
    sock.close()

    def flood():  # the whole 32 MiB, as fast as the socket takes it
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
            try:
                s.sendall(f"POST /verdict HTTP/1.1\r\nHost: x\r\n{form}Content-Length: {HUGE}\r\n\r\n".encode())
                s.sendall(b"a" * HUGE)
            except OSError:
                pass  # the server answered and closed: what we want

    floods = [threading.Thread(target=flood) for _ in range(3)]
    for t in floods:
        t.start()
    try:
        for _ in range(5):
            start = time.monotonic()
            assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
            assert time.monotonic() - start < 1.0, "a large post held /healthz"
    finally:
        for t in floods:
            t.join(timeout=60)
    assert not any(t.is_alive() for t in floods)


def login_form(client: httpx.Client) -> str:
    return re.search(r'name="login_token" value="([^"]+)"', client.get("/").text).group(1)


def test_login_refuses_other_sites_and_posts_without_the_form_token(guarded):
    server, store, tokens, _ = guarded
    with httpx.Client(base_url=server.url, timeout=10) as client:
        form = {"token": tokens["attacker"], "login_token": login_form(client)}
        for origin in ("http://evil.example", "null", f"http://localhost:{server.port}"):
            refused = client.post("/login", data=form, headers={"Origin": origin})
            assert refused.status_code == 403 and "review_token" not in refused.headers.get("set-cookie", "")
        fresh = httpx.post(f"{server.url}/login", data=form)  # the form's token without its cookie
        assert fresh.status_code == 403
        accepted = client.post("/login", data=form, headers={"Origin": server.url})
    assert accepted.status_code == 303
    cookie = accepted.headers.get_list("set-cookie")[0]
    assert cookie.startswith(f"review_token={tokens['attacker']};")
    assert "Max-Age=43200" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie


def test_a_cross_site_page_cannot_log_the_victim_in_as_the_attacker(guarded, browser):
    server, store, tokens, _ = guarded
    page = (
        f'<form method="post" action="{server.url}/login"><input name="token" value="{tokens["attacker"]}">'
        '<button id="go">win a prize</button></form>'
    ).encode()

    with cross_site(page) as attacker_url:  # another site than 127.0.0.1
        login(browser, server, tokens["victim"])
        browser.get(attacker_url)
        submit(browser, "go")
        assert "cannot post here" in browser.find_element(By.ID, "error").text
    browser.get(f"{server.url}/review")
    assert browser.find_element(By.ID, "who").text == "victim"  # still the victim's own session


CRAFTED = [
    ("post", "/verdict", {"csrf": "ก"}),
    ("post", "/verdict", {"item_id": "²"}),
    ("post", "/verdict", {"item_id": "１"}),  # a full-width digit
    ("post", "/verdict", {"item_id": "-1"}),
    ("post", "/verdict", {"item_id": "9" * 40}),
    ("post", "/verdict", {"choice": "\x00"}),
    ("post", "/verdict", {"choice": "left", "comment": "ok\x00"}),
    ("post", "/verdict", {"choice": "left", "fluency": "ก"}),
    ("post", "/verdict", {"action": "ก"}),
    ("post", "/login", {"token": "ก", "login_token": "ก"}),
    ("post", "/login", {"token": "\x00"}),
    ("get", "/review?lang=%E0%B8%81", None),
    ("get", "/review?item=%C2%B2", None),
    ("get", "/review?item=0", None),
]


def test_crafted_values_get_a_4xx_never_a_500(guarded):
    server, store, tokens, folder = guarded
    with http_client(server, tokens["crafty"]) as client:
        page = client.get("/review").text
        fields = {
            "item_id": re.search(r'name="item_id" value="(\d+)"', page).group(1),
            "csrf": re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1),
            "choice": "left",
        }
        for method, path, data in CRAFTED:
            response = client.get(path) if method == "get" else client.post(path, data={**fields, **data})
            assert 400 <= response.status_code < 500, (path, data, response.status_code)
        bad_cookie = httpx.get(f"{server.url}/review", cookies={"review_token": "%E0%B8%81"})
        assert bad_cookie.status_code == 401
    assert "Traceback" not in (folder / "server.log").read_text()


def test_logout_ends_the_session(guarded, browser):
    server, store, tokens, _ = guarded
    login(browser, server, tokens["leaver"])
    assert browser.find_element(By.ID, "who").text == "leaver"
    submit(browser, "logout")
    assert browser.find_element(By.ID, "login")  # back at the login form
    browser.get(f"{server.url}/review")
    assert browser.find_element(By.ID, "error").text.startswith("Not logged in")


def test_session_hours_and_secure_cookie_options(guarded):
    _, store, tokens, folder = guarded
    server = Server(
        store.engine.url.render_as_string(), folder / "server-secure.log", "--secure-cookie", "--session-hours", "1.5"
    )
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            form = {"token": tokens["victim"], "login_token": login_form(client)}
            client.cookies.set("review_login", form["login_token"])  # a Secure cookie is not sent back over http
            cookie = client.post("/login", data=form).headers.get_list("set-cookie")[0]
    finally:
        server.kill()
    assert "Max-Age=5400" in cookie and "; Secure" in cookie


def test_reviewer_commands_add_list_revoke(guarded, review_cli):
    server, store, tokens, _ = guarded
    db = store.engine.url.render_as_string()
    token = review_cli("--db", db, "reviewer", "add", "somchai", "--languages", "th").stdout.strip()
    again = review_cli("--db", db, "reviewer", "add", "somchai", "--languages", "th")
    assert again.returncode == 2 and again.stdout == ""
    assert again.stderr.splitlines() == [
        "error: a reviewer named 'somchai' exists already: choose another name "
        "(`reviewer list` shows them), or `reviewer revoke` the old one first"
    ]
    assert httpx.get(f"{server.url}/review", cookies={"review_token": token}).status_code == 200
    listed = review_cli("--db", db, "reviewer", "list").stdout.splitlines()
    assert "somchai\tth: 0 of 3 judged\tactive" in listed
    done = review_cli("--db", db, "reviewer", "revoke", "somchai")
    assert done.returncode == 0, done.stderr
    assert httpx.get(f"{server.url}/review", cookies={"review_token": token}).status_code == 401
    assert any(
        line.startswith("somchai (revoked") and line.endswith("\trevoked")
        for line in review_cli("--db", db, "reviewer", "list").stdout.splitlines()
    )
    missing = review_cli("--db", db, "reviewer", "revoke", "nobody")
    assert missing.returncode == 2 and missing.stderr.splitlines() == [
        "error: no reviewer named 'nobody': `reviewer list` shows them"
    ]
    replaced = review_cli("--db", db, "reviewer", "add", "somchai", "--languages", "th")  # a new token, same name
    assert replaced.returncode == 0 and replaced.stdout.strip() != token
