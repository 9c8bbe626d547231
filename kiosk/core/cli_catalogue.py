"""``kiosk catalogue``: search, show, list and check the procedure catalogue; print docs/catalogue.md.

Every action reads the catalogue shipped with the package, or the file given with ``--file``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kiosk import jsonio
from kiosk.cli import command_group
from kiosk.core.catalogue import Catalogue, render_markdown


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    group = command_group(sub, "catalogue", parent, "procedure catalogue (TTHC): search, show, check")

    def action(name: str, help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = group.add_parser(name, parents=[parent], help=help)
        p.add_argument("--file", help="catalogue file (default: the one shipped with the package)")
        return p

    p = action("search", "procedures matching a query, best first (JSON lines)")
    p.add_argument("query", help="words of the name (accents and case ignored) or a code prefix")
    p.add_argument("--limit", type=int, default=10, help="maximum number of results (default 10)")
    p.set_defaults(func=_search)

    p = action("show", "one procedure with its cases and components (JSON)")
    p.add_argument("code", help="national procedure code, e.g. 1.001193")
    p.set_defaults(func=_show)

    action("list", "every procedure, one JSON line each").set_defaults(func=_list)
    action("check", "validate a catalogue file and print a summary (JSON)").set_defaults(func=_check)
    action("docs", "print the Markdown of docs/catalogue.md").set_defaults(func=_docs)


def _load(args: argparse.Namespace) -> Catalogue:
    return Catalogue.load(getattr(args, "file", None))


def _search(args: argparse.Namespace) -> int:
    for proc in _load(args).search(args.query, limit=args.limit):
        jsonio.emit(proc.summary())
    return 0


def _show(args: argparse.Namespace) -> int:
    jsonio.emit(_load(args).get(args.code).to_dict())
    return 0


def _list(args: argparse.Namespace) -> int:
    for proc in _load(args).procedures:
        jsonio.emit(proc.summary())
    return 0


def _check(args: argparse.Namespace) -> int:
    cat = _load(args)
    jsonio.emit({
        "file": cat.source_path,
        "ok": True,
        "version": cat.version,
        "procedures": len(cat.procedures),
        "components": sum(len(p.components) for p in cat.procedures),
        "paper_types": len(cat.paper_types),
        "unverified_codes": [p.code for p in cat.procedures if not p.code_verified],
    })
    return 0


def _docs(args: argparse.Namespace) -> int:
    sys.stdout.write(render_markdown(_load(args)))
    return 0
