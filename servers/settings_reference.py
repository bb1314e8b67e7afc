"""The README's configuration table, rendered from `Settings` and the `serve` flags so it cannot drift.

`python -m servers.settings_reference --write` rewrites the README section; a test checks it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic.fields import FieldInfo

from servers.settings import Settings

START = "<!-- section: configuration -->"
END = "<!-- end section: configuration -->"
README = Path(__file__).resolve().parent.parent / "README.md"

# Defaults that depend on the machine, written as a reader should understand them.
MACHINE_DEFAULTS = {
    "skills_dirs": "the shipped skills/",
    "state_dir": "$XDG_CONFIG_HOME/realtime-mcp or ~/.config/realtime-mcp",
}


def _serve_flags() -> dict[str, str]:
    """Settings field name -> the `serve` flag that sets it."""
    from servers import serve_cli

    parser = argparse.ArgumentParser()
    serve_cli.register(parser.add_subparsers())
    serve = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["serve"]
    return {a.dest: a.option_strings[0] for a in serve._actions if a.option_strings and a.dest != "help"}


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        if isinstance(value, list):
            return ",".join(str(v) for v in value) or "(empty)"
        return "(empty)" if not value else str(value)
    if field.default is None:
        return "(unset)"
    if isinstance(field.default, bool):
        return str(field.default).lower()
    return str(field.default)


def render() -> str:
    flags = _serve_flags()
    rows = ["| variable | `serve` flag | default | meaning |", "| --- | --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = MACHINE_DEFAULTS.get(name) or _default(field)
        description = (field.description or "").replace("|", "\\|").replace("\n", " ")
        flag = f"`{flags[name]}`" if name in flags else ""
        rows.append(f"| `REALTIME_MCP_{name.upper()}` | {flag} | `{default}` | {description} |")
    return "\n".join(rows)


def readme_section(text: str) -> str:
    start, end = text.index(START) + len(START), text.index(END)
    return text[start:end].strip()


def main() -> int:
    text = README.read_text(encoding="utf-8")
    if "--write" in sys.argv:
        start, end = text.index(START) + len(START), text.index(END)
        README.write_text(f"{text[:start]}\n\n{render()}\n\n{text[end:]}", encoding="utf-8")
        return 0
    print(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
