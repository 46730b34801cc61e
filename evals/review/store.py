"""The review database (SQLAlchemy: SQLite by default, any server database by URL).

A verdict is stored once and only once: `(item_id, reviewer_id)` is unique and each verdict is inserted in its own
transaction, so a form submitted twice (a double click, a resubmit after a server restart, two tabs) keeps the
first and reports the second as already recorded. Verdicts are stored in version terms (`a`, `b`): the left/right
order a reviewer saw is derived from a secret kept in the database, so it survives restarts and never reaches the
browser as a version name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Optional

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, create_engine, event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

CHOICES = ("a", "b", "tie", "both_bad")  # the overall verdict, in version terms
CRITERIA = {
    "fluency": "Fluency and naturalness",
    "cultural_fit": "Cultural and local fit",
    "correctness": "Correctness",
    "instruction_following": "Following the instruction",
}
CRITERION_CHOICES = ("a", "b", "tie")  # which response is better on one criterion
MAX_COMMENT = 2000
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


class Base(DeclarativeBase):
    pass


class Comparison(Base):
    """The one pair of versions this database reviews, and the secret for left/right order and CSRF tokens."""

    __tablename__ = "comparison"
    id: Mapped[int] = mapped_column(primary_key=True)
    version_a: Mapped[str] = mapped_column(String(200))
    version_b: Mapped[str] = mapped_column(String(200))
    secret: Mapped[str] = mapped_column(String(64))


class Item(Base):
    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("language", "prompt_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    language: Mapped[str] = mapped_column(String(8), index=True)
    prompt_id: Mapped[str] = mapped_column(String(200))
    prompt: Mapped[str] = mapped_column(Text)
    response_a: Mapped[str] = mapped_column(Text)
    response_b: Mapped[str] = mapped_column(Text)


class Reviewer(Base):
    __tablename__ = "reviewers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    languages: Mapped[str] = mapped_column(String(200))  # comma-separated codes
    admin: Mapped[bool] = mapped_column(Boolean, default=False)

    @property
    def language_list(self) -> list[str]:
        return [code for code in self.languages.split(",") if code]


class Verdict(Base):
    __tablename__ = "verdicts"
    __table_args__ = (UniqueConstraint("item_id", "reviewer_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id"))
    left_is_a: Mapped[bool] = mapped_column(Boolean)
    choice: Mapped[str] = mapped_column(String(8))
    fluency: Mapped[Optional[str]] = mapped_column(String(4))
    cultural_fit: Mapped[Optional[str]] = mapped_column(String(4))
    correctness: Mapped[Optional[str]] = mapped_column(String(4))
    instruction_following: Mapped[Optional[str]] = mapped_column(String(4))
    comment: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


@dataclass(frozen=True)
class NewItem:
    language: str
    prompt_id: str
    prompt: str
    response_a: str
    response_b: str


@dataclass(frozen=True)
class LanguageProgress:
    language: str
    items: int
    reviewers: int
    verdicts: int
    reviewed_once: int
    reviewed_twice: int


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_languages(languages: list[str]) -> list[str]:
    bad = [code for code in languages if not _LANGUAGE.match(code)]
    if bad or not languages:
        raise ValueError(f"languages={languages}: give ISO 639 codes in lower case, e.g. th,my")
    return languages


class Store:
    def __init__(self, url: str):
        connect_args = {"timeout": 30} if url.startswith("sqlite") else {}
        self.engine = create_engine(url, connect_args=connect_args)
        if url.startswith("sqlite"):
            # WAL: readers do not block the writer, so a page view never waits for another reviewer's submit.
            event.listen(self.engine, "connect", lambda conn, _: conn.execute("PRAGMA journal_mode=WAL"))
        Base.metadata.create_all(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def comparison(self) -> Comparison:
        with self.sessions() as s:
            found = s.scalars(select(Comparison)).first()
        if found is None:
            raise LookupError("the review database holds no comparison yet: run `python -m evals.review prepare` first")
        return found

    def set_comparison(self, version_a: str, version_b: str) -> Comparison:
        """Record the pair (once); a database may hold only one pair, so a second, different pair is refused."""
        if version_a == version_b:
            raise ValueError(f"--a and --b are both {version_a}: compare two different versions")
        with self.sessions.begin() as s:
            found = s.scalars(select(Comparison)).first()
            if found is None:
                found = Comparison(version_a=version_a, version_b=version_b, secret=secrets.token_hex(32))
                s.add(found)
            elif (found.version_a, found.version_b) != (version_a, version_b):
                raise ValueError(f"this database reviews {found.version_a} vs {found.version_b}, not {version_a} vs "
                                 f"{version_b}: give a new --db for a new pair")
        return found

    def prompt_keys(self) -> set[tuple[str, str]]:
        """(language, prompt_id) of every stored item."""
        with self.sessions() as s:
            return {tuple(row) for row in s.execute(select(Item.language, Item.prompt_id))}

    def add_items(self, items: list[NewItem]) -> None:
        with self.sessions.begin() as s:
            s.add_all(Item(**vars(item)) for item in items)

    def add_reviewer(self, name: str, languages: list[str], admin: bool = False) -> str:
        """Create a reviewer (the admin needs no languages); returns the access token, shown only now: only its
        hash is stored."""
        if not admin:
            check_languages(languages)
        token = secrets.token_urlsafe(24)
        with self.sessions.begin() as s:
            s.add(Reviewer(name=name, token_sha256=token_hash(token), languages=",".join(languages), admin=admin))
        return token

    def reviewer(self, token: Optional[str]) -> Optional[Reviewer]:
        if not token:
            return None
        with self.sessions() as s:
            return s.scalars(select(Reviewer).where(Reviewer.token_sha256 == token_hash(token))).first()

    def item(self, item_id: int) -> Optional[Item]:
        with self.sessions() as s:
            return s.get(Item, item_id)

    def _secret(self, purpose: str, message: str) -> bytes:
        key = self.comparison().secret.encode()
        return hmac.new(key, f"{purpose}:{message}".encode(), hashlib.sha256).digest()

    def left_is_a(self, reviewer: Reviewer, item: Item) -> bool:
        """The random side of response a for this reviewer and item, fixed across page loads and restarts."""
        return self._secret("order", f"{reviewer.id}:{item.id}")[0] % 2 == 0

    def csrf_token(self, reviewer: Reviewer) -> str:
        return self._secret("csrf", reviewer.token_sha256).hex()

    def next_item(self, reviewer: Reviewer, language: str) -> Optional[Item]:
        """The first item in `language` this reviewer has not judged yet."""
        mine = select(Verdict.item_id).where(Verdict.reviewer_id == reviewer.id)
        with self.sessions() as s:
            return s.scalars(select(Item).where(Item.language == language, Item.id.not_in(mine))
                             .order_by(Item.id)).first()

    def progress(self, reviewer: Reviewer, language: str) -> tuple[int, int]:
        """(judged by this reviewer, total) items in `language`."""
        with self.sessions() as s:
            total = s.scalar(select(func.count(Item.id)).where(Item.language == language))
            done = s.scalar(select(func.count(Verdict.id)).join(Item)
                            .where(Item.language == language, Verdict.reviewer_id == reviewer.id))
        return done, total

    def record(self, reviewer: Reviewer, item: Item, left_is_a: bool, choice: str, criteria: dict[str, str],
               comment: str) -> bool:
        """Store a verdict; False when this reviewer already judged this item (the first verdict stands)."""
        verdict = Verdict(item_id=item.id, reviewer_id=reviewer.id, left_is_a=left_is_a, choice=choice,
                          comment=comment, **criteria)
        try:
            with self.sessions.begin() as s:
                s.add(verdict)
        except IntegrityError:
            return False
        return True

    def language_progress(self) -> list[LanguageProgress]:
        with self.sessions() as s:
            items = s.execute(select(Item.language, func.count(Item.id)).group_by(Item.language)).all()
            per_item = (select(Item.language, Verdict.item_id, func.count(Verdict.id).label("n"))
                        .join(Item).group_by(Verdict.item_id).subquery())
            verdicts = {row[0]: row[1:] for row in s.execute(
                select(per_item.c.language, func.sum(per_item.c.n), func.count(),
                       func.sum((per_item.c.n >= 2).cast(Integer))).group_by(per_item.c.language))}
            reviewers = s.scalars(select(Reviewer).where(Reviewer.admin.is_(False))).all()
        return [LanguageProgress(language, n, sum(language in r.language_list for r in reviewers),
                                 *(int(x or 0) for x in verdicts.get(language, (0, 0, 0))))
                for language, n in sorted(items)]

    def comments(self, limit: int = 50) -> list[tuple[str, str, str]]:
        """The latest (language, reviewer name, comment), for the admin page."""
        with self.sessions() as s:
            rows = s.execute(select(Item.language, Reviewer.name, Verdict.comment).join(Item).join(Reviewer)
                             .where(Verdict.comment != "").order_by(Verdict.id.desc()).limit(limit)).all()
        return [tuple(row) for row in rows]

    def verdicts(self) -> list[tuple[Item, Verdict]]:
        """Every verdict with its item, in submission order (for the export)."""
        with self.sessions() as s:
            return [tuple(row) for row in s.execute(select(Item, Verdict).join(Verdict).order_by(Verdict.id)).all()]
