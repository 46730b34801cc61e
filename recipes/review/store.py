"""The review database (SQLAlchemy: SQLite by default, any server database by URL).

A verdict is stored once and only once: `(item_id, reviewer_id)` is unique and each verdict is inserted in its own
transaction, so a form submitted twice (a double click, a resubmit after a server restart, two tabs) keeps the
first and reports the second as already recorded; only the edit form (which says so) replaces a verdict. Verdicts
are stored in version terms (`a`, `b`): the left/right order a reviewer saw, and the order in which their items
come, are derived from a secret kept in the database, so they survive restarts and never reach the browser as a
version name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    inspect,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

CHOICES = ("a", "b", "tie", "both_bad")  # the overall verdict, in version terms
# No verdict: a skipped item is offered again on the "done" page, one the reviewer cannot judge is not; neither counts
# in the statistics.
ABSTAIN = ("skip", "cannot_judge")


@dataclass(frozen=True)
class Criterion:
    label: str
    definition: str  # shown on the review page, so every reviewer judges the same thing


CRITERIA = {
    "fluency": Criterion(
        "Fluency and naturalness",
        "Reads as a native speaker would write it: grammar, spelling, word choice, the right script "
        "and register; no words from another language where a native word exists.",
    ),
    "cultural_fit": Criterion(
        "Cultural and local fit",
        "Fits the culture and place of the language: local names, customs, food, units, "
        "politeness; nothing wrong or offensive about them.",
    ),
    "correctness": Criterion("Correctness", "The facts, numbers and reasoning are right; nothing made up."),
    "instruction_following": Criterion(
        "Following the instruction", "Does what the prompt asks, all of it, in the asked form, length and language."
    ),
}
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
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)  # its token no longer logs in

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
    fluency: Mapped[str | None] = mapped_column(String(4))
    cultural_fit: Mapped[str | None] = mapped_column(String(4))
    correctness: Mapped[str | None] = mapped_column(String(4))
    instruction_following: Mapped[str | None] = mapped_column(String(4))
    harmful_a: Mapped[bool] = mapped_column(Boolean, default=False)  # the reviewer flagged a response as harmful
    harmful_b: Mapped[bool] = mapped_column(Boolean, default=False)
    comment: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    edited: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class Judgement:
    """One reviewer's verdict on one item, in version terms."""

    choice: str  # CHOICES or ABSTAIN
    criteria: dict[str, str | None]  # CRITERIA name -> one of CHOICES, or None when not judged
    harmful_a: bool = False
    harmful_b: bool = False
    comment: str = ""


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


@dataclass(frozen=True)
class ReviewerProgress:
    name: str
    languages: str
    admin: bool
    revoked: bool
    judged: int  # verdicts, abstentions included
    abstained: int  # skip or cannot_judge
    items: int  # items in the reviewer's languages
    last: dt.datetime | None


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
        self._check_columns(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._key: bytes | None = None

    def _check_columns(self, url: str) -> None:
        """A database made by an older version of this module lacks columns (create_all adds tables, not columns)."""
        found = inspect(self.engine)
        for table in Base.metadata.sorted_tables:
            missing = {c.name for c in table.columns} - {c["name"] for c in found.get_columns(table.name)}
            if missing:
                raise ValueError(
                    f"{url}: table {table.name} lacks {sorted(missing)} (made by an older recipes.review): "
                    "export its verdicts with that version, then start a new --db"
                )

    def comparison(self) -> Comparison:
        with self.sessions() as s:
            found = s.scalars(select(Comparison)).first()
        if found is None:
            raise LookupError(
                "the review database holds no comparison yet: run `python -m recipes.review prepare` first"
            )
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
                raise ValueError(
                    f"this database reviews {found.version_a} vs {found.version_b}, not {version_a} vs "
                    f"{version_b}: give a new --db for a new pair"
                )
        return found

    def prompt_keys(self) -> set[tuple[str, str]]:
        """(language, prompt_id) of every stored item."""
        with self.sessions() as s:
            return set(s.execute(select(Item.language, Item.prompt_id)).tuples())

    def add_items(self, items: list[NewItem]) -> None:
        with self.sessions.begin() as s:
            s.add_all(Item(**vars(item)) for item in items)

    def add_reviewer(self, name: str, languages: list[str], admin: bool = False) -> str:
        """Create a reviewer (the admin needs no languages); returns the access token, shown only now: only its
        hash is stored."""
        if not admin:
            check_languages(languages)
        if not name.strip():
            raise ValueError("the reviewer's name is empty: give a name, e.g. `reviewer add somchai --languages th`")
        token = secrets.token_urlsafe(24)
        try:
            with self.sessions.begin() as s:
                s.add(Reviewer(name=name, token_sha256=token_hash(token), languages=",".join(languages), admin=admin))
        except IntegrityError:
            raise ValueError(
                f"a reviewer named {name!r} exists already: choose another name (`reviewer list` shows "
                "them), or `reviewer revoke` the old one first"
            ) from None
        return token

    def revoke(self, name: str) -> None:
        """Stop a reviewer's token from logging in (a leaked token); their verdicts stay."""
        with self.sessions.begin() as s:
            found = s.scalars(select(Reviewer).where(Reviewer.name == name)).first()
            if found is None:
                raise LookupError(f"no reviewer named {name!r}: `reviewer list` shows them")
            found.revoked = True
            found.name = f"{name} (revoked {found.id})"  # frees the name for a new token

    def reviewer(self, token: str | None) -> Reviewer | None:
        if not token:
            return None
        with self.sessions() as s:
            return s.scalars(
                select(Reviewer).where(Reviewer.token_sha256 == token_hash(token), Reviewer.revoked.is_(False))
            ).first()

    def item(self, item_id: int) -> Item | None:
        with self.sessions() as s:
            return s.get(Item, item_id)

    def _secret(self, purpose: str, message: str) -> bytes:
        if self._key is None:  # set once by `prepare`, never changed: read it once
            self._key = self.comparison().secret.encode()
        return hmac.new(self._key, f"{purpose}:{message}".encode(), hashlib.sha256).digest()

    def left_is_a(self, reviewer: Reviewer, item: Item) -> bool:
        """The random side of response a for this reviewer and item, fixed across page loads and restarts."""
        return self._secret("order", f"{reviewer.id}:{item.id}")[0] % 2 == 0

    def csrf_token(self, reviewer: Reviewer) -> str:
        return self._secret("csrf", reviewer.token_sha256).hex()

    def order_key(self, reviewer: Reviewer, item_id: int) -> bytes:
        """Each reviewer's own random order of the items (against order and fatigue effects), fixed across restarts."""
        return self._secret("item-order", f"{reviewer.id}:{item_id}")

    def next_item(self, reviewer: Reviewer, language: str) -> Item | None:
        """The next item in `language` this reviewer has not judged yet, in their own order."""
        mine = select(Verdict.item_id).where(Verdict.reviewer_id == reviewer.id)
        with self.sessions() as s:
            ids = s.scalars(select(Item.id).where(Item.language == language, Item.id.not_in(mine))).all()
            return s.get(Item, min(ids, key=lambda i: self.order_key(reviewer, i))) if ids else None

    def verdict_of(self, reviewer: Reviewer, item: Item) -> Verdict | None:
        with self.sessions() as s:
            return s.scalars(
                select(Verdict).where(Verdict.reviewer_id == reviewer.id, Verdict.item_id == item.id)
            ).first()

    def verdicts_by(self, reviewer: Reviewer) -> list[tuple[Item, Verdict]]:
        """A reviewer's own verdicts, latest first (the page they edit from)."""
        with self.sessions() as s:
            return list(
                s.execute(
                    select(Item, Verdict)
                    .join(Verdict)
                    .where(Verdict.reviewer_id == reviewer.id)
                    .order_by(Verdict.id.desc())
                ).tuples()
            )

    def progress(self, reviewer: Reviewer, language: str) -> tuple[int, int]:
        """(judged by this reviewer, total) items in `language`."""
        with self.sessions() as s:
            total = s.scalar(select(func.count(Item.id)).where(Item.language == language))
            done = s.scalar(
                select(func.count(Verdict.id))
                .join(Item)
                .where(Item.language == language, Verdict.reviewer_id == reviewer.id)
            )
        return done or 0, total or 0  # COUNT always answers; the 0s are for the type

    def record(
        self, reviewer: Reviewer, item: Item, left_is_a: bool, judgement: Judgement, replace: bool = False
    ) -> bool:
        """Store a verdict; False when this reviewer already judged this item and `replace` is not set (the first
        verdict stands: a double submit is not an edit)."""
        fields = dict(
            choice=judgement.choice,
            comment=judgement.comment,
            harmful_a=judgement.harmful_a,
            harmful_b=judgement.harmful_b,
            **judgement.criteria,
        )
        if replace:
            with self.sessions.begin() as s:
                found = s.scalars(
                    select(Verdict).where(Verdict.reviewer_id == reviewer.id, Verdict.item_id == item.id)
                ).first()
                if found is not None:
                    for name, value in fields.items():
                        setattr(found, name, value)
                    found.edited = dt.datetime.now(dt.UTC)
                    return True
        try:
            with self.sessions.begin() as s:
                s.add(Verdict(item_id=item.id, reviewer_id=reviewer.id, left_is_a=left_is_a, **fields))
        except IntegrityError:
            return False
        return True

    def language_progress(self) -> list[LanguageProgress]:
        with self.sessions() as s:
            items = s.execute(select(Item.language, func.count(Item.id)).group_by(Item.language)).all()
            per_item = (
                select(Item.language, Verdict.item_id, func.count(Verdict.id).label("n"))
                .join(Item)
                .group_by(Verdict.item_id)
                .subquery()
            )
            verdicts = {
                row[0]: row[1:]
                for row in s.execute(
                    select(
                        per_item.c.language,
                        func.sum(per_item.c.n),
                        func.count(),
                        func.sum((per_item.c.n >= 2).cast(Integer)),
                    ).group_by(per_item.c.language)
                )
            }
            reviewers = s.scalars(select(Reviewer).where(Reviewer.admin.is_(False))).all()
        return [
            LanguageProgress(
                language,
                n,
                sum(language in r.language_list for r in reviewers),
                *(int(x or 0) for x in verdicts.get(language, (0, 0, 0))),
            )
            for language, n in sorted(items)
        ]

    def reviewer_progress(self) -> list[ReviewerProgress]:
        """Per reviewer: verdicts, abstentions, the items of their languages, their latest submit (admin page)."""
        with self.sessions() as s:
            items = dict(s.execute(select(Item.language, func.count(Item.id)).group_by(Item.language)).all())
            counts = {
                row[0]: row[1:]
                for row in s.execute(
                    select(
                        Verdict.reviewer_id,
                        func.count(Verdict.id),
                        func.sum(Verdict.choice.in_(ABSTAIN).cast(Integer)),
                        func.max(Verdict.created),
                    ).group_by(Verdict.reviewer_id)
                )
            }
            reviewers = s.scalars(select(Reviewer).order_by(Reviewer.name)).all()
        rows = []
        for r in reviewers:
            judged, abstained, last = counts.get(r.id, (0, 0, None))
            rows.append(
                ReviewerProgress(
                    r.name,
                    r.languages,
                    r.admin,
                    r.revoked,
                    judged,
                    int(abstained or 0),
                    sum(items.get(code, 0) for code in r.language_list),
                    last,
                )
            )
        return rows

    def comments(self, limit: int = 50) -> list[tuple[str, str, str]]:
        """The latest (language, reviewer name, comment), for the admin page."""
        with self.sessions() as s:
            rows = s.execute(
                select(Item.language, Reviewer.name, Verdict.comment)
                .join(Item)
                .join(Reviewer)
                .where(Verdict.comment != "")
                .order_by(Verdict.id.desc())
                .limit(limit)
            ).tuples()
            return list(rows)

    def verdicts(self) -> list[tuple[Item, Verdict]]:
        """Every verdict with its item, in submission order (for the export)."""
        with self.sessions() as s:
            return list(s.execute(select(Item, Verdict).join(Verdict).order_by(Verdict.id)).tuples())
