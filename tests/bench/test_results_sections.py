"""bench/results.py: a bench replaces only its own `## ` section of bench/RESULTS.md; the
other sections stay byte for byte, in their order."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from bench import purge
from bench.results import section_read, section_write

ROOT = Path(__file__).resolve().parents[2]

DOC = (
    "# Benchmark results\n"
    "\n"
    "Intro line.\n"
    "\n"
    "## Service over HTTP\n"
    "\n"
    "| a | b |\n"
    "|---|---|\n"
    "Command: run.py\n"
    "\n"
    "## Retention purge\n"
    "\n"
    "- note with trailing spaces   \n"
    "\n"
    "\n"
    "## Bulk scoring jobs (20,000 rows: not the target size)\n"
    "\n"
    "old jobs text\u2028## still the same line, not a heading\n"
    "\n"
    "## Bulk scoring jobs: what limits each figure (hand-written)\n"
    "\n"
    "kept\n"
)
SERVICE = DOC[DOC.index("## Service"):DOC.index("## Retention")]
PURGE = DOC[DOC.index("## Retention"):DOC.index("## Bulk scoring jobs (")]
JOBS = DOC[DOC.index("## Bulk scoring jobs ("):DOC.index("## Bulk scoring jobs:")]
HAND = DOC[DOC.index("## Bulk scoring jobs:"):]


@pytest.fixture
def results(tmp_path: Path) -> Path:
    path = tmp_path / "RESULTS.md"
    path.write_bytes(DOC.encode())
    return path


def test_a_missing_section_is_appended_and_the_rest_kept_byte_for_byte(results):
    section_write(results, "## Explanations", "## Explanations\n\nnew text\n")

    assert results.read_bytes() == (DOC + "\n## Explanations\n\nnew text\n").encode()


def test_a_present_section_is_replaced_in_place_and_the_others_kept_byte_for_byte(results):
    section_write(results, "## Retention purge", "## Retention purge\n\n| new | row |\n\n\n\n")

    assert results.read_text() == DOC.replace(PURGE, "## Retention purge\n\n| new | row |\n\n")
    assert results.read_text().index("## Service") < results.read_text().index("## Retention") < \
        results.read_text().index("## Bulk scoring jobs (")


def test_the_first_and_the_last_section_are_replaced_in_place(results):
    section_write(results, "## Service over HTTP", "## Service over HTTP (quick smoke run)\n\nquick")
    section_write(results, "## Bulk scoring jobs: what limits each figure (hand-written)", "## Bulk scoring jobs: "
                  "what limits each figure (hand-written)\n\nnew analysis\n")

    expected = (DOC.replace(SERVICE, "## Service over HTTP (quick smoke run)\n\nquick\n\n")
                .replace(HAND, "## Bulk scoring jobs: what limits each figure (hand-written)\n\nnew analysis\n"))
    assert results.read_text() == expected


def test_a_heading_that_goes_on_after_a_space_is_the_same_section_and_one_that_goes_on_otherwise_is_not(results):
    section_write(results, "## Bulk scoring jobs", "## Bulk scoring jobs\n\n1,000,000 rows\n")

    assert results.read_text() == DOC.replace(JOBS, "## Bulk scoring jobs\n\n1,000,000 rows\n\n")
    assert HAND in results.read_text()
    assert "\u2028" not in results.read_text()  # the whole old line went, not a piece of it


def test_the_old_section_is_given_to_a_function_that_makes_the_new_one(results):
    seen = []

    def render(old: str | None) -> str:
        seen.append(old)
        return "## Retention purge\n\nmerged\n"

    section_write(results, "## Retention purge", render)
    section_write(results, "## Not yet there", lambda old: seen.append(old) or "## Not yet there\n")

    assert seen == [PURGE, None]
    assert section_read(results, "## Retention purge") == "## Retention purge\n\nmerged\n\n"
    assert section_read(results, "## Nowhere") is None


def test_a_missing_file_starts_with_the_title(tmp_path):
    path = tmp_path / "new" / "RESULTS.md"

    section_write(path, "## Bulk scoring jobs", "## Bulk scoring jobs\n\ntext")

    assert path.read_text() == "# Benchmark results\n\n## Bulk scoring jobs\n\ntext\n"


def test_headings_inside_a_code_fence_do_not_end_a_section(results):
    fenced = "## Retention purge\n\n```\n## not a heading\n# nor this\n```\nafter the fence\n"
    section_write(results, "## Retention purge", fenced)
    section_write(results, "## Retention purge", lambda old: old.replace("after the fence", "changed"))

    assert results.read_text() == DOC.replace(PURGE, fenced.replace("after the fence", "changed") + "\n")


@pytest.mark.parametrize("section", [
    "## Retention purge\n\n## Bulk scoring jobs\n\nanother section's text\n",
    "## Retention purge\n\n# A new title\n",
    "## Another heading\n\ntext\n",
    "",
])
def test_a_section_that_would_spill_into_others_is_refused_and_nothing_written(results, section):
    with pytest.raises(ValueError):
        section_write(results, "## Retention purge", section)

    assert results.read_bytes() == DOC.encode()
    assert list(results.parent.iterdir()) == [results]  # no temp file left behind


def test_benches_finishing_together_keep_each_others_sections(results):
    """The old section is read and the new one written under one lock: without it, each
    thread here would read the file before the others wrote, and the last one would win."""

    def write(n: int) -> None:
        def render(old: str | None) -> str:
            time.sleep(0.05)
            return f"## Bench {n}\n\nresult {n}\n"
        section_write(results, f"## Bench {n}", render)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    text = results.read_text()
    assert text.startswith(DOC)
    assert sorted(n for n in range(6) if f"## Bench {n}\n\nresult {n}\n" in text) == list(range(6))


def test_purge_replaces_its_own_database_row_and_keeps_the_other_and_every_other_section(tmp_path, monkeypatch):
    shutil.copy(ROOT / "bench" / "RESULTS.md", tmp_path / "RESULTS.md")
    before = (tmp_path / "RESULTS.md").read_text()
    old = section_read(tmp_path / "RESULTS.md", purge.SECTION)
    assert old is not None and "| PostgreSQL + Redis |" in old and "| SQLite + in-process cache |" in old
    monkeypatch.setattr(purge, "BENCH", tmp_path)

    purge.write_results("SQLite + in-process cache", "| SQLite + in-process cache | new row |",
                        ["- SQLite + in-process cache: new note"])

    new = section_read(tmp_path / "RESULTS.md", purge.SECTION)
    assert new is not None
    kept = [line for line in old.splitlines() if line.startswith(("| PostgreSQL + Redis", "- PostgreSQL + Redis:"))]
    assert kept and all(line in new.splitlines() for line in kept)
    assert "| SQLite + in-process cache | new row |" in new.splitlines()
    assert "- SQLite + in-process cache: new note" in new.splitlines()
    assert [line for line in new.splitlines() if line.startswith(("| SQLite", "- SQLite"))] == [
        "| SQLite + in-process cache | new row |", "- SQLite + in-process cache: new note"]
    assert (tmp_path / "RESULTS.md").read_text() == before.replace(old, new)
