"""The command-line reference, generated from the live app (so ``docs/cli.md`` cannot drift).

``python -m modgen.cli.reference docs/cli.md`` rewrites the block between
``<!-- cli-reference:begin -->`` and ``<!-- cli-reference:end -->`` of that page; a test checks
that the committed block equals what the CLI generates.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

__all__ = ["reference_markdown", "commands", "write_reference", "BEGIN", "END"]

BEGIN = "<!-- cli-reference:begin -->"
END = "<!-- cli-reference:end -->"


def commands(group: Any, prefix: str = "modgen") -> list[tuple[str, Any]]:
    """Every command of a click group as ``(full name, command)``, depth first, in order."""
    out: list[tuple[str, Any]] = []
    ctx = group.context_class(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        full = f"{prefix} {name}"
        out.append((full, cmd))
        if hasattr(cmd, "list_commands"):
            out += commands(cmd, full)
    return out


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _option_rows(cmd: Any) -> list[list[str]]:
    rows = []
    for param in cmd.params:
        if getattr(param, "hidden", False) or param.name in ("help",):
            continue
        if param.param_type_name == "argument":
            rows.append(
                [
                    f"`{(param.metavar or param.name or '').upper()}`",
                    "argument",
                    _cell(getattr(param, "help", "") or ""),
                ]
            )
            continue
        names = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
        kind = (
            "flag"
            if getattr(param, "is_flag", False) or getattr(param, "count", False)
            else (param.metavar or "VALUE")
        )
        default = param.default
        flag = getattr(param, "is_flag", False)
        show = (
            ""
            if default in (None, False, (), [], "") or flag or callable(default)
            else f" (default: `{default}`)"
        )
        rows.append([names, _cell(kind), _cell((param.help or "") + show)])
    return rows


def reference_markdown(app: Any = None) -> str:
    """The Markdown reference of every command: usage, what it does, its options.

    Example:
        >>> "### modgen train" in reference_markdown()
        True
    """
    import typer

    from modgen.cli.app import build_app
    from modgen.plugins import get_registries

    if app is None:
        app = build_app(get_registries(entry_points=False), plugin_commands=False)
    root = typer.main.get_command(app)
    lines = [
        "## Every command and option",
        "",
        "Generated from the command line itself (`modgen.cli.reference`).",
        "",
    ]
    for full, cmd in commands(root):
        lines += [f"### {full}", ""]
        with cmd.context_class(cmd, info_name=full) as ctx:
            usage = " ".join(cmd.collect_usage_pieces(ctx))
        lines += ["```text", f"{full} {usage}".rstrip(), "```", ""]
        doc = (cmd.help or "").strip().split("\n\n")[0]
        if doc:
            lines += [" ".join(doc.split()), ""]
        rows = _option_rows(cmd)
        if rows:
            lines += ["| option | value | meaning |", "|---|---|---|"]
            lines += ["| " + " | ".join(r) + " |" for r in rows]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_reference(page: Path) -> bool:
    """Rewrite the generated block of ``page``; return whether it changed."""
    text = page.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        text = text.rstrip() + f"\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{BEGIN}\n{reference_markdown()}{END}{tail}"
    if new != page.read_text(encoding="utf-8"):
        page.write_text(new, encoding="utf-8")
        return True
    return False


if __name__ == "__main__":  # pragma: no cover
    changed = write_reference(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/cli.md"))
    print("updated" if changed else "unchanged")
