"""`python -m recipes.review prepare|reviewer|serve|export`: the native-speaker review, from prompts to the record."""

from __future__ import annotations

import argparse
import sys

DEFAULT_DB = "sqlite:///review.db"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recipes.review", description=__doc__)
    parser.add_argument(
        "--db",
        default=DEFAULT_DB,
        help=f"SQLAlchemy database URL (default {DEFAULT_DB}; e.g. postgresql://host/review)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="generate both versions' responses to a prompt set and store the items")
    p.add_argument("--a", required=True, help="version id of the baseline (recipes.artifacts.versions: name-1.0.0)")
    p.add_argument("--b", required=True, help="version id of the candidate")
    p.add_argument(
        "--prompts", required=True, help='JSONL file, one {"id", "lang", "prompt"} per line (the CLAIR prompt format)'
    )
    p.add_argument("--registry", default=None, help="registry root (default: the stages' registry)")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32")
    reviewer = sub.add_parser("reviewer", help="add, list or revoke reviewers").add_subparsers(
        dest="action", required=True
    )
    p = reviewer.add_parser("add", help="add a reviewer (or the admin) and print their access token")
    p.add_argument("name")
    p.add_argument("--languages", default="", help="comma-separated language codes, e.g. th,my")
    p.add_argument("--admin", action="store_true", help="sees the progress page instead of items")
    reviewer.add_parser("list", help="every reviewer: languages, verdicts, active or revoked")
    p = reviewer.add_parser("revoke", help="stop a reviewer's token from logging in (their verdicts stay)")
    p.add_argument("name")
    p = sub.add_parser("serve", help="run the review web app")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--session-hours", type=float, default=12.0, help="how long a login lasts (default 12)")
    p.add_argument(
        "--secure-cookie",
        action="store_true",
        help="mark the login cookie Secure: set it when reviewers reach the app over HTTPS",
    )
    p = sub.add_parser("export", help="win rates, kappa and a PNG into DIR, and into both versions' records")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--registry", default=None, help="registry root (default: the stages' registry)")
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    p.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from recipes.artifacts.versions import Registry
    from recipes.review.store import Store

    try:
        store = Store(args.db)
        if args.command == "prepare":
            from recipes.review.prepare import GenerationSettings, prepare

            n = prepare(
                store,
                Registry(args.registry),
                args.a,
                args.b,
                args.prompts,
                GenerationSettings(args.max_new_tokens, args.device, args.dtype),
            )
            print(f"stored {n} items in {args.db}")
        elif args.command == "reviewer" and args.action == "add":
            languages = [code.strip() for code in args.languages.split(",") if code.strip()]
            print(store.add_reviewer(args.name, languages, admin=args.admin))
        elif args.command == "reviewer" and args.action == "list":
            for r in store.reviewer_progress():
                role = "admin" if r.admin else f"{r.languages}: {r.judged} of {r.items} judged"
                print(f"{r.name}\t{role}\t{'revoked' if r.revoked else 'active'}")
        elif args.command == "reviewer":
            store.revoke(args.name)
            print(f"revoked {args.name}: their token no longer logs in; their verdicts stay")
        elif args.command == "serve":
            import uvicorn

            from recipes.review.app import AppSettings, create_app

            if args.session_hours <= 0:
                raise ValueError(f"--session-hours={args.session_hours}: give a positive number of hours")
            store.comparison()  # refuse to serve an unprepared database
            settings = AppSettings(session_hours=args.session_hours, secure_cookie=args.secure_cookie)
            uvicorn.run(create_app(store, settings), host=args.host, port=args.port, log_level="warning")
        elif args.command == "export":
            from recipes.review.export import export

            written = export(store, Registry(args.registry), args.output_dir, args.resamples, args.seed)
            print(f"wrote {written['json']} and {written['png']}; native_review recorded in both versions")
    except (ValueError, LookupError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
