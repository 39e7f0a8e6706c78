"""python -m benchmarks.ledger run|compare|render|list — the benchmark ledger's one command.

    python -m benchmarks.ledger run --quick           # the quick subset (a few minutes), record an entry
    python -m benchmarks.ledger run --full            # every headline benchmark (a wave's end)
    python -m benchmarks.ledger run --only stream_check
    python -m benchmarks.ledger compare [ENTRY] [--baseline ENTRY]   # exit 1 when a metric is flagged
    python -m benchmarks.ledger render [--check]      # rebuild docs/benchmarks.md's generated blocks
    python -m benchmarks.ledger list

Run from the repository root with the project's interpreter (``.venv/bin/python``), as
root for the benchmarks that build network namespaces.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import compare, model, render, runner
from .registry import BENCHMARKS, select


def _cmd_run(args: argparse.Namespace) -> int:
    benches = select(args.only, quick=not args.full)
    git = runner.git_state()  # before installing: what is measured is this state of the checkout
    if not args.no_install:
        runner.install_checkout()
    entry = runner.record(benches, quick=not args.full, note=args.note, git=git)
    if args.only:
        entry["id"] = entry["id"].rsplit("-", 1)[0] + "-only"
        entry["set"] = "only"
    path = model.save_entry(entry, args.ledger)
    print(f"[ledger] recorded {path}")
    # Baselines come from the committed ledger too, so a throwaway run kept elsewhere
    # (--ledger /tmp/...) is compared with it at once.
    entries = model.load_entries(model.ENTRIES_DIR)
    if args.ledger.resolve() != model.ENTRIES_DIR.resolve():
        entries = sorted(entries + model.load_entries(args.ledger), key=lambda e: e["id"])
    findings = compare.compare_entries(entry, entries)
    print(compare.format_findings(findings))
    if args.ledger == model.ENTRIES_DIR and not args.no_render:
        _render(check=False)
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    entries = model.load_entries(model.ENTRIES_DIR)
    if args.entry:
        new = model.load_entry(args.entry)
    elif entries:
        new = entries[-1]
    else:
        print("the ledger is empty", file=sys.stderr)
        return 2
    baseline = model.load_entry(args.baseline) if args.baseline else None
    findings = compare.compare_entries(new, entries, baseline)
    print(f"entry {new['id']}")
    print(compare.format_findings(findings))
    return 1 if any(f.flagged for f in findings) else 0


def _render(check: bool) -> int:
    text = render.DOCS.read_text(encoding="utf-8")
    new = render.render_text(text, model.load_entries(model.ENTRIES_DIR))
    if check:
        if new != text:
            print("docs/benchmarks.md's ledger blocks are stale: run python -m benchmarks.ledger render",
                  file=sys.stderr)
            return 1
        return 0
    if new != text:
        render.DOCS.write_text(new, encoding="utf-8")
        print(f"[ledger] rewrote the generated blocks of {render.DOCS}")
    return 0


def _cmd_list(_: argparse.Namespace) -> int:
    for b in BENCHMARKS:
        why = runner.missing(b)
        print(f"{b.name:15} {'quick' if b.quick else 'full ':5} {b.script:24} {b.title}"
              + (f"  [cannot run here: {why}]" if why else ""))
    for e in model.load_entries():
        print(f"entry {e['id']}  ({len(e['benchmarks'])} benchmarks)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one sub-command."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ledger", description=(__doc__ or "").splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run benchmarks and record a ledger entry")
    size = run.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="the quick subset (default)")
    size.add_argument("--full", action="store_true", help="every headline benchmark")
    run.add_argument("--only", nargs="+", metavar="NAME", help="only these benchmarks (full repeats with --full)")
    run.add_argument("--note", default="", help="a line kept in the entry (what changed, why this run)")
    run.add_argument("--ledger", type=Path, default=model.ENTRIES_DIR,
                     help="directory of entries (default: the committed ledger; another directory is not rendered)")
    run.add_argument("--no-install", action="store_true",
                     help="do not pip-install this checkout first (the installed sitescout is measured as it is)")
    run.add_argument("--no-render", action="store_true", help="leave docs/benchmarks.md alone")
    run.set_defaults(fn=_cmd_run)
    cmp_ = sub.add_parser("compare", help="flag metrics worse than the baseline beyond its noise (exit 1)")
    cmp_.add_argument("entry", nargs="?", help="entry id, id prefix or path (default: the newest entry)")
    cmp_.add_argument("--baseline", help="entry id or path (default: per benchmark, the newest earlier entry)")
    cmp_.set_defaults(fn=_cmd_compare)
    ren = sub.add_parser("render", help="rebuild docs/benchmarks.md's generated blocks from the ledger")
    ren.add_argument("--check", action="store_true", help="exit 1 if the blocks are stale, change nothing")
    ren.set_defaults(fn=lambda a: _render(a.check))
    lst = sub.add_parser("list", help="the registry and the entries")
    lst.set_defaults(fn=_cmd_list)
    args = ap.parse_args(argv)
    try:
        return args.fn(args)
    except KeyError as err:
        print(f"error: {err.args[0]}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
