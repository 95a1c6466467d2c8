"""Writes docs/flags.md, the flag reference, from main.py's own parser (the help texts and defaults declared once in
algos/config.py, planner/config.py, teacher/config.py, algos/experiments/sweep.py and algos/experiments/plot.py):

    python docs/make_flags.py            # rewrite docs/flags.md
    python docs/make_flags.py --check    # exit 1 if docs/flags.md is not what the parser says now

tests/test_docs_commands.py runs the check, so a flag added, removed or re-described shows up there.
"""
import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "docs", "flags.md")
DEFAULT = re.compile(r"\s*\(default: (.*)\)$", re.S)


def _cell(text):
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _flag(action):
    """'--name METAVAR' as the usage line writes it."""
    if not action.option_strings:
        metavar = action.metavar or action.dest
        return f"{metavar} [{metavar} ...]" if action.nargs == "+" else metavar
    name = action.option_strings[-1]
    if action.nargs == 0:
        return name
    metavar = action.metavar or (("{" + ",".join(map(str, action.choices)) + "}") if action.choices else
                                 action.dest.upper())
    if action.nargs in ("+", "*"):
        metavar = f"{metavar} [{metavar} ...]"
    return f"{name} {metavar}"


def _help(parser, action):
    """The help as --help prints it: argparse's %-expansion applied (`%%` -> `%`, `%(default)s` -> the default)."""
    return parser._get_formatter()._expand_help(action) if action.help else ""


def rows(parser):
    """[(group title, [(flag, default, meaning)])] of a (sub)parser, in its help's order, -h left out."""
    out = []
    for group in parser._action_groups:
        entries = []
        for action in group._group_actions:
            if isinstance(action, argparse._HelpAction):
                continue
            meaning = _help(parser, action)
            match = DEFAULT.search(meaning)
            if match:
                default, meaning = match.group(1), meaning[:match.start()]
            elif action.nargs == 0:
                default = "off"
            else:
                default = ""
            entries.append((_flag(action), default, meaning))
        if entries:
            out.append((group.title, entries))
    return out


def _table(entries):
    lines = ["| flag | default | meaning |", "|---|---|---|"]
    lines += [f"| `{flag}` | {_cell(default)} | {_cell(meaning)} |" for flag, default, meaning in entries]
    return "\n".join(lines)


def commands():
    """{command: its subparser} of main.py (importable: the project is installed, `pip install -e .`)."""
    from main import build_parser
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def render():
    parsers = commands()
    train = {flag.split()[0]: (flag, d, m) for _, entries in rows(parsers["train"]) for flag, d, m in entries}
    text = ["# Flags", "",
            "Generated from `main.py`'s parser by `python docs/make_flags.py` (do not edit by hand; "
            "`tests/test_docs_commands.py` checks it is current). Each flag is one setting declared once, with its "
            "default and help (`algos/config.py`, which inherits `planner/config.py` and `teacher/config.py`; "
            "`algos/experiments/sweep.py`; `algos/experiments/plot.py`); the same name is the field of `config.json`. "
            "`python main.py COMMAND --help` prints the same. Why the settings are what they are: "
            "[settings.md](settings.md).", ""]
    text += ["## train", ""]
    for title, entries in rows(parsers["train"]):
        text += [f"### {title}", "", _table(entries), ""]
    for command in ("eval", "sweep"):
        own, shared = [], []
        for _, entries in rows(parsers[command]):
            for entry in entries:
                name = entry[0].split()[0]
                if train.get(name) == entry:
                    shared.append(name)
                else:
                    own.append(entry)
        missing = sorted(set(train) - {e[0].split()[0] for _, es in rows(parsers[command]) for e in es})
        text += [f"## {command}", "", "Its own flags, or flags of train with another meaning or default here:", "",
                 _table(own), "",
                 f"and these flags of train, the same here: {', '.join(f'`{n}`' for n in shared)}."
                 + (f" Not taken: {', '.join(f'`{n}`' for n in missing)}." if missing else ""), ""]
    text += ["## plot", "", "`python main.py plot RUN_DIR [RUN_DIR ...]`", ""]
    for title, entries in rows(parsers["plot"]):
        text += [f"### {title}", "", _table(entries), ""]
    text += ["## tasks", "", "`python main.py tasks` takes no flags: it lists the configured tasks and the registered "
             "MiniGrid ids the teacher can act in.", ""]
    return "\n".join(text)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="exit 1 if docs/flags.md is stale")
    args = p.parse_args(argv)
    text = render()
    if args.check:
        current = open(OUT, encoding="utf-8").read() if os.path.exists(OUT) else ""
        if current != text:
            print("docs/flags.md is stale: run python docs/make_flags.py", file=sys.stderr)
            return 1
        return 0
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
