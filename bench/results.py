"""bench/RESULTS.md is shared by several benches (bench/run.py, bench/jobs.py, bench/purge.py):
each owns one `## ` section of it and replaces only that one, so `make bench` keeps what
`make bench-jobs` and `make bench-purge` wrote, in their order, byte for byte.

A section runs from its heading line to the next `# ` or `## ` heading (outside ``` fences)
or the end of the file. It is found by the heading's text; a heading line that goes on after
it with a space counts too, so "## Bulk scoring jobs (20,000 rows: not the target size)" is
the section "## Bulk scoring jobs". A missing section is appended at the end; a missing file
is started with the title "# Benchmark results".
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

TITLE = "# Benchmark results"


def section_write(path: Path, heading: str, section: str | Callable[[str | None], str]) -> None:
    """Put `section` (its text, heading line first) in place of the section `heading` of the
    markdown file `path`. `section` may be a function of the old section's text (None when
    there is none) for a bench that keeps part of it (bench/purge.py keeps the other
    database's row); it is called under a lock, so two benches finishing together do not
    lose one another's section. The file is replaced whole (a crash leaves the old one)."""
    if not (heading.startswith("## ") and "\n" not in heading):
        raise ValueError(f"not a `## ` heading line: {heading!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Lock the directory, not the file: the file is replaced by a new one, not written in place.
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(directory, fcntl.LOCK_EX)
        text = path.read_text(encoding="utf-8") if path.exists() else TITLE + "\n"
        lines = _lines(text)
        bounds = _find(lines, heading)
        old = "".join(lines[bounds[0]:bounds[1]]) if bounds else None
        new = section(old) if callable(section) else section
        _check(new, heading)
        body = new.rstrip("\n") + "\n"
        if bounds:
            before, after = "".join(lines[:bounds[0]]), "".join(lines[bounds[1]:])
            if after:
                body += "\n"
        else:
            before, after = text, ""
            if before and not before.endswith("\n"):
                before += "\n"
            if before and not before.endswith("\n\n"):
                before += "\n"
        _replace(path, before + body + after)
    finally:
        os.close(directory)  # releases the lock


def section_read(path: Path, heading: str) -> str | None:
    """The text of the section `heading` of `path` (heading line first), or None."""
    if not path.exists():
        return None
    lines = _lines(path.read_text(encoding="utf-8"))
    bounds = _find(lines, heading)
    return "".join(lines[bounds[0]:bounds[1]]) if bounds else None


def _lines(text: str) -> list[str]:
    """The lines of `text`, each with its newline: str.splitlines would also split at a carriage
    return, form feed, U+2028 and more, which can stand inside a line of markdown."""
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _headings(lines: list[str]) -> list[int]:
    """Indexes of the `# ` and `## ` heading lines outside fenced code."""
    found, fenced = [], False
    for i, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith(("# ", "## ")):
            found.append(i)
    return found


def _is(line: str, heading: str) -> bool:
    line = line.rstrip("\r\n")
    return line == heading or line.startswith(heading + " ")


def _find(lines: list[str], heading: str) -> tuple[int, int] | None:
    starts = _headings(lines)
    for n, i in enumerate(starts):
        if _is(lines[i], heading):
            return i, starts[n + 1] if n + 1 < len(starts) else len(lines)
    return None


def _check(section: str, heading: str) -> None:
    lines = _lines(section)
    starts = _headings(lines)
    if not lines or not _is(lines[0], heading):
        raise ValueError(f"the section does not start with its heading {heading!r}")
    if starts != [0]:
        raise ValueError(f"the section {heading!r} holds another heading: {lines[starts[1]].strip()!r}")


def _replace(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
