"""The review web app (FastAPI on uvicorn): log in with a token, judge two anonymous responses, see progress.

Safety: every page is rendered by Jinja2 with autoescape on, so model outputs and comments show as text, under a
policy that allows only this app's own stylesheet and no script. A request body is refused by its declared length
before anything reads it (a large post cannot hold the server), and a post from another site is refused by its
Origin header. The session cookie is HttpOnly, SameSite=Strict, expires, and can be Secure; the login form carries
a token bound to a cookie (login CSRF), and every post after login a CSRF token (an HMAC of the reviewer's token
under the database's secret, so forms rendered before a restart stay valid after it). Endpoints are plain
functions: FastAPI runs them in its thread pool, so concurrent submits really hit the database at once.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.responses import PlainTextResponse

from recipes.review.store import ABSTAIN, CRITERIA, MAX_COMMENT, Item, Judgement, Reviewer, Store

COOKIE = "review_token"
LOGIN_COOKIE = "review_login"  # the login form's CSRF token, bound to this browser
SIDES = {"left": True, "right": False}  # the form's side -> whether it means response a when a is on the left
ANSWERS = ("left", "right", "tie", "both_bad")  # the overall choice and each criterion's, as the form names them
POLICY = (
    "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
_ITEM_ID = re.compile(r"[0-9]{1,9}", re.ASCII)
HERE = Path(__file__).parent


@dataclass(frozen=True)
class AppSettings:
    max_body: int = 64 * 1024  # bytes; a verdict form with a full Thai comment is ~20 KB
    session_hours: float = 12.0  # the login cookie's lifetime
    secure_cookie: bool = False  # set when the app is served over HTTPS


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class BodyLimit:
    """Refuse a request body by its declared size before any of it is read: 411 without a Content-Length (no
    chunked uploads), 413 above the limit. Uvicorn enforces the declared length, so nothing larger gets through."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            length = dict(scope["headers"]).get(b"content-length", b"").decode("latin-1")
            refusal = None
            if not length.isascii() or not length.isdigit():
                refusal = (411, "send the request body with a Content-Length")
            elif int(length) > self.limit:
                refusal = (413, f"request body of {length} bytes: at most {self.limit} are accepted")
            if refusal:
                response = PlainTextResponse(refusal[1], status_code=refusal[0], headers={"Connection": "close"})
                return await response(scope, receive, send)
        return await self.app(scope, receive, send)


def _to_version(side: str, left_is_a: bool) -> str:
    """A left/right (or tie/both_bad) answer in version terms."""
    if side not in SIDES:
        return side
    return "a" if SIDES[side] == left_is_a else "b"


def _to_side(version: str | None, left_is_a: bool) -> str | None:
    """A stored a/b answer back in the left/right terms of this reviewer's page."""
    if version not in ("a", "b"):
        return version
    return "left" if (version == "a") == left_is_a else "right"


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison of any submitted text (non-ASCII included) with a token."""
    return hmac.compare_digest(given.encode(), expected.encode())


def create_app(store: Store, settings: AppSettings = AppSettings()) -> FastAPI:
    app = FastAPI(title="Native-speaker review", docs_url=None, redoc_url=None, openapi_url=None)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    templates = Jinja2Templates(env=env)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def page(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context, status_code=status)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        return response

    app.add_middleware(BodyLimit, limit=settings.max_body)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> HTMLResponse:
        return page(request, "error.html", exc.status, message=exc.message)

    def reviewer_of(request: Request) -> Reviewer:
        reviewer = store.reviewer(request.cookies.get(COOKIE))
        if reviewer is None:
            raise Refused(401, "Not logged in (or the token is unknown): open / and enter your access token.")
        return reviewer

    def check_origin(request: Request) -> None:
        """Browsers send Origin with every post: one from another site (or an opaque `null`) is refused."""
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
            raise Refused(403, f"A form from {origin} cannot post here: open the review from its own address.")

    def check_language(reviewer: Reviewer, language: str) -> None:
        if language not in reviewer.language_list:
            raise Refused(403, f"Your token is for {', '.join(reviewer.language_list)}, not {language!r}.")

    def item_of(value: str) -> Item:
        item = store.item(int(value)) if _ITEM_ID.fullmatch(value) else None
        if item is None:
            raise Refused(422, f"item_id={value!r} is not an item of this review: reload the review page.")
        return item

    def review_page(
        request: Request,
        reviewer: Reviewer,
        item: Item,
        status: int = 200,
        error: str = "",
        values: dict | None = None,
        edit: bool = False,
    ) -> HTMLResponse:
        left_is_a = store.left_is_a(reviewer, item)
        left, right = (item.response_a, item.response_b) if left_is_a else (item.response_b, item.response_a)
        done, total = store.progress(reviewer, item.language)
        if values is None:  # the form as stored (an edit) or empty
            stored = store.verdict_of(reviewer, item)
            edit = stored is not None
            values = (
                {}
                if stored is None
                else {
                    "choice": _to_side(stored.choice, left_is_a),
                    "comment": stored.comment,
                    "harmful_left": stored.harmful_a if left_is_a else stored.harmful_b,
                    "harmful_right": stored.harmful_b if left_is_a else stored.harmful_a,
                    **{name: _to_side(getattr(stored, name), left_is_a) for name in CRITERIA},
                }
            )
        return page(
            request,
            "review.html",
            status,
            reviewer=reviewer,
            item=item,
            left=left,
            right=right,
            done=done,
            total=total,
            criteria=CRITERIA,
            csrf=store.csrf_token(reviewer),
            error=error,
            values=values,
            edit=edit,
            max_comment=MAX_COMMENT,
        )

    @app.get("/healthz")
    def healthz() -> dict:
        return {"ok": True}

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request):
        reviewer = store.reviewer(request.cookies.get(COOKIE))
        if reviewer is not None:
            return RedirectResponse("/admin" if reviewer.admin else "/review", status_code=303)
        login_token = secrets.token_urlsafe(24)
        response = page(request, "login.html", login_token=login_token)
        response.set_cookie(LOGIN_COOKIE, login_token, httponly=True, samesite="strict", secure=settings.secure_cookie)
        return response

    @app.post("/login")
    def login(request: Request, token: str = Form(""), login_token: str = Form("")):
        check_origin(request)
        if not login_token or not _same(login_token, request.cookies.get(LOGIN_COOKIE, "")):
            raise Refused(403, "The login form expired or came from elsewhere: open / and log in again.")
        reviewer = store.reviewer(token.strip())
        if reviewer is None:
            raise Refused(401, "Unknown access token: check the token your coordinator sent you.")
        response = RedirectResponse("/admin" if reviewer.admin else "/review", status_code=303)
        response.set_cookie(
            COOKIE,
            token.strip(),
            max_age=int(settings.session_hours * 3600),
            httponly=True,
            samesite="strict",
            secure=settings.secure_cookie,
        )
        response.delete_cookie(LOGIN_COOKIE)
        return response

    @app.post("/logout")
    def logout(request: Request):
        check_origin(request)
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(COOKIE, httponly=True, samesite="strict", secure=settings.secure_cookie)
        return response

    @app.get("/review", response_class=HTMLResponse)
    def review(request: Request, lang: str | None = None, item: str | None = None):
        reviewer = reviewer_of(request)
        if item is not None:  # one item again: a skipped one, or an edit
            chosen = item_of(item)
            check_language(reviewer, chosen.language)
            return review_page(request, reviewer, chosen)
        if lang is not None:
            check_language(reviewer, lang)
        # The asked language first, then the reviewer's others: "All done" only when every language is.
        for language in sorted(reviewer.language_list, key=lambda code: code != lang):
            found = store.next_item(reviewer, language)
            if found is not None:
                return review_page(request, reviewer, found)
        progress = {language: store.progress(reviewer, language) for language in reviewer.language_list}
        skipped = [(i, v) for i, v in store.verdicts_by(reviewer) if v.choice == "skip"]
        return page(request, "done.html", reviewer=reviewer, progress=progress, skipped=skipped)

    @app.get("/verdicts", response_class=HTMLResponse)
    def verdicts(request: Request):
        reviewer = reviewer_of(request)
        rows = [(i, v, _to_side(v.choice, v.left_is_a)) for i, v in store.verdicts_by(reviewer)]
        return page(request, "verdicts.html", reviewer=reviewer, rows=rows)

    @app.post("/verdict")
    def verdict(
        request: Request,
        item_id: str = Form(""),
        csrf: str = Form(""),
        choice: str = Form(""),
        action: str = Form("judge"),
        edit: str = Form(""),
        comment: str = Form(""),
        harmful_left: str = Form(""),
        harmful_right: str = Form(""),
        fluency: str = Form(""),
        cultural_fit: str = Form(""),
        correctness: str = Form(""),
        instruction_following: str = Form(""),
    ):
        reviewer = reviewer_of(request)
        check_origin(request)
        item = item_of(item_id)
        check_language(reviewer, item.language)
        comment = comment.replace("\r\n", "\n")  # a browser posts a textarea's line breaks as CRLF
        given = {
            "fluency": fluency,
            "cultural_fit": cultural_fit,
            "correctness": correctness,
            "instruction_following": instruction_following,
        }  # the keys of CRITERIA
        values = {
            "choice": choice,
            "comment": comment,
            "harmful_left": bool(harmful_left),
            "harmful_right": bool(harmful_right),
            **given,
        }
        status, error = 200, ""
        if not _same(csrf, store.csrf_token(reviewer)):
            status, error = 403, "Missing or wrong form token (csrf): submit again (your answers are kept below)."
        elif action not in ("judge", *ABSTAIN):
            status, error = 422, f"action={action!r}: use the page's buttons (judge, skip, cannot_judge)."
        elif action == "judge" and choice not in ANSWERS:
            status, error = 422, f"choice={choice!r}: pick one of left, right, tie, both_bad."
        elif len(comment) > MAX_COMMENT:
            status, error = 422, f"comment is {len(comment)} characters: shorten it to {MAX_COMMENT} at most."
        elif "\x00" in comment:
            status, error = 422, "comment holds a NUL character: remove it."
        else:
            bad = [f"{name}={side!r}" for name, side in given.items() if side and side not in ANSWERS]
            if bad:
                status, error = 422, f"{bad[0]}: pick left, right, same or both bad, or leave it empty."
        if error:  # the same form again, with what the reviewer typed
            return review_page(request, reviewer, item, status, error, values, edit=edit == "1")
        left_is_a = store.left_is_a(reviewer, item)
        abstained = action in ABSTAIN
        judgement = Judgement(
            choice=action if abstained else _to_version(choice, left_is_a),
            criteria={
                name: None if abstained or not side else _to_version(side, left_is_a) for name, side in given.items()
            },
            harmful_a=bool(harmful_left if left_is_a else harmful_right),
            harmful_b=bool(harmful_right if left_is_a else harmful_left),
            comment=comment.strip(),
        )
        stored = store.record(reviewer, item, left_is_a, judgement, replace=edit == "1")
        response = RedirectResponse(f"/review?lang={item.language}", status_code=303)
        response.headers["X-Review-Stored"] = ("edited" if edit == "1" else "new") if stored else "duplicate"
        return response

    @app.get("/admin", response_class=HTMLResponse)
    def admin(request: Request):
        reviewer = reviewer_of(request)
        if not reviewer.admin:
            raise Refused(403, "The progress page is for the review's admin only.")
        comparison = store.comparison()
        return page(
            request,
            "admin.html",
            reviewer=reviewer,
            comparison=comparison,
            rows=store.language_progress(),
            reviewers=store.reviewer_progress(),
            comments=store.comments(),
        )

    return app
