"""The review web app (FastAPI on uvicorn): log in with a token, judge two anonymous responses, see progress.

Safety: every page is rendered by Jinja2 with autoescape on, so model outputs and comments show as text; the
session cookie is HttpOnly and SameSite=Strict, and every POST after login carries a CSRF token (an HMAC of the
reviewer's token under the database's secret, so forms rendered before a restart stay valid after it). Endpoints
are plain functions: FastAPI runs them in its thread pool, so concurrent submits really hit the database at once.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Optional

import jinja2
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from evals.review.store import CRITERIA, MAX_COMMENT, Reviewer, Store

COOKIE = "review_token"
SIDES = {"left": True, "right": False}  # the form's side -> whether it means response a when a is on the left


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _to_version(side: str, left_is_a: bool) -> str:
    """A left/right (or tie/both_bad) answer in version terms."""
    if side not in SIDES:
        return side
    return "a" if SIDES[side] == left_is_a else "b"


def create_app(store: Store) -> FastAPI:
    app = FastAPI(title="Native-speaker review", docs_url=None, redoc_url=None, openapi_url=None)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")), autoescape=True)
    templates = Jinja2Templates(env=env)

    def page(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context, status_code=status)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = "default-src 'self'; script-src 'none'; frame-ancestors 'none'"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> HTMLResponse:
        return page(request, "error.html", exc.status, message=exc.message)

    def reviewer_of(request: Request) -> Reviewer:
        reviewer = store.reviewer(request.cookies.get(COOKIE))
        if reviewer is None:
            raise Refused(401, "Not logged in (or the token is unknown): open / and enter your access token.")
        return reviewer

    def check_language(reviewer: Reviewer, language: str) -> None:
        if language not in reviewer.language_list:
            raise Refused(403, f"Your token is for {', '.join(reviewer.language_list)}, not {language!r}.")

    @app.get("/healthz")
    def healthz() -> dict:
        return {"ok": True}

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request):
        reviewer = store.reviewer(request.cookies.get(COOKIE))
        if reviewer is None:
            return page(request, "login.html")
        return RedirectResponse("/admin" if reviewer.admin else "/review", status_code=303)

    @app.post("/login")
    def login(request: Request, token: str = Form("")):
        reviewer = store.reviewer(token.strip())
        if reviewer is None:
            raise Refused(401, "Unknown access token: check the token your coordinator sent you.")
        response = RedirectResponse("/admin" if reviewer.admin else "/review", status_code=303)
        response.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict")
        return response

    @app.get("/review", response_class=HTMLResponse)
    def review(request: Request, lang: Optional[str] = None):
        reviewer = reviewer_of(request)
        languages = [lang] if lang else reviewer.language_list
        for language in languages:
            check_language(reviewer, language)
            item = store.next_item(reviewer, language)
            if item is not None:
                left_is_a = store.left_is_a(reviewer, item)
                left, right = (item.response_a, item.response_b) if left_is_a else (item.response_b, item.response_a)
                done, total = store.progress(reviewer, language)
                return page(request, "review.html", reviewer=reviewer, item=item, left=left, right=right,
                            done=done, total=total, criteria=CRITERIA, csrf=store.csrf_token(reviewer))
        progress = {language: store.progress(reviewer, language) for language in reviewer.language_list}
        return page(request, "done.html", reviewer=reviewer, progress=progress)

    @app.post("/verdict")
    def verdict(request: Request, item_id: str = Form(""), csrf: str = Form(""), choice: str = Form(""),
                comment: str = Form(""), fluency: str = Form(""), cultural_fit: str = Form(""),
                correctness: str = Form(""), instruction_following: str = Form("")):
        reviewer = reviewer_of(request)
        if not hmac.compare_digest(csrf, store.csrf_token(reviewer)):
            raise Refused(403, "Missing or wrong form token (csrf): reload the review page and submit again.")
        item = store.item(int(item_id)) if item_id.isdigit() and len(item_id) < 10 else None
        if item is None:
            raise Refused(422, f"item_id={item_id!r} is not an item of this review: reload the review page.")
        check_language(reviewer, item.language)
        left_is_a = store.left_is_a(reviewer, item)
        if choice not in {"left", "right", "tie", "both_bad"}:
            raise Refused(422, f"choice={choice!r}: pick one of left, right, tie, both_bad.")
        given = {"fluency": fluency, "cultural_fit": cultural_fit, "correctness": correctness,
                 "instruction_following": instruction_following}  # the keys of CRITERIA
        criteria = {}
        for name, side in given.items():
            if side and side not in {"left", "right", "tie"}:
                raise Refused(422, f"{name}={side!r}: pick left, right or tie, or leave it empty.")
            criteria[name] = _to_version(side, left_is_a) if side else None
        if len(comment) > MAX_COMMENT:
            raise Refused(422, f"comment is {len(comment)} characters: shorten it to {MAX_COMMENT} at most.")
        stored = store.record(reviewer, item, left_is_a, _to_version(choice, left_is_a), criteria, comment.strip())
        response = RedirectResponse(f"/review?lang={item.language}", status_code=303)
        response.headers["X-Review-Stored"] = "new" if stored else "duplicate"
        return response

    @app.get("/admin", response_class=HTMLResponse)
    def admin(request: Request):
        reviewer = reviewer_of(request)
        if not reviewer.admin:
            raise Refused(403, "The progress page is for the review's admin only.")
        comparison = store.comparison()
        return page(request, "admin.html", comparison=comparison, rows=store.language_progress(),
                    comments=store.comments())

    return app
