"""Small modules with names that explain themselves: a source file past 500 lines is split by theme
(split500 split twelve that had grown there); this keeps it so."""

from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "torbit"
MOST_LINES = 500


def test_no_source_module_is_over_500_lines() -> None:
    sizes = {
        path.relative_to(SRC).as_posix(): len(path.read_text().splitlines())
        for path in SRC.rglob("*.py")
    }
    assert len(sizes) > 100  # the walk found the package
    assert {name: n for name, n in sizes.items() if n > MOST_LINES} == {}
