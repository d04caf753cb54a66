"""The README's settings table against the settings table in
src/config/config.c, both ways: the same settings, and the same default
wherever the README writes the default as a literal value. Like the check
of docs/openapi.json against the routes, it keeps a document honest; it
reads both files and needs no server.

README rows: | `PACE_NAME` | default | meaning |. A default cell that is
one code span (`8192`) is a literal and must equal the default in
config.c; `none` stands for an empty default; any other text (online
CPUs, the pool size) describes a default config.c computes (NULL)."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
CONFIG_C = REPO / "src" / "config" / "config.c"

TABLE_HEADER = "| variable | default | meaning |"


def readme_settings():
    """{name without PACE_: default cell} from the README's settings table."""
    lines = README.read_text().splitlines()
    assert TABLE_HEADER in lines, f"README.md has no settings table (a line {TABLE_HEADER!r})"
    i = lines.index(TABLE_HEADER) + 2  # the header and its |---| line
    rows = {}
    while i < len(lines) and lines[i].startswith("|"):
        cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
        assert len(cells) >= 3, f"README.md settings row without three cells: {lines[i]!r}"
        names = re.findall(r"`PACE_([A-Z0-9_]+)`", cells[0])
        assert len(names) == 1, f"README.md settings row must name one PACE_ variable: {lines[i]!r}"
        assert names[0] not in rows, f"PACE_{names[0]} is listed twice in README.md"
        rows[names[0]] = cells[1]
        i += 1
    assert rows, "README.md's settings table is empty"
    return rows


def c_string(literal):
    """The value of a C string literal written with simple escapes."""
    return re.sub(r'\\(.)', r"\1", literal)


def config_settings():
    """{name: default or None (computed)} from `settings[]` in config.c."""
    text = CONFIG_C.read_text()
    m = re.search(r"static const struct setting settings\[\] = \{(.*?)\n\};", text, re.S)
    assert m, "no `static const struct setting settings[] = {...};` in src/config/config.c"
    body = re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)
    entries = re.findall(r'\{\s*"([A-Z0-9_]+)"\s*,\s*K_[A-Z]+\s*,\s*(NULL|"(?:[^"\\]|\\.)*")', body)
    assert entries, "no settings parsed from src/config/config.c"
    out = {}
    for name, default in entries:
        assert name not in out, f"{name} is twice in config.c"
        out[name] = None if default == "NULL" else c_string(default[1:-1])
    return out


def test_readme_lists_every_setting_and_nothing_else():
    documented = set(readme_settings())
    configured = set(config_settings())
    missing = sorted(configured - documented)
    unknown = sorted(documented - configured)
    assert not missing and not unknown, (
        "README.md's settings table and src/config/config.c disagree\n"
        + "  in config.c, not in README.md: " + (", ".join("PACE_" + n for n in missing) or "-") + "\n"
        + "  in README.md, not in config.c: " + (", ".join("PACE_" + n for n in unknown) or "-")
    )


def test_readme_defaults_match_config():
    documented = readme_settings()
    configured = config_settings()
    wrong = []
    for name in sorted(set(documented) & set(configured)):
        cell, default = documented[name], configured[name]
        literal = re.fullmatch(r"`([^`]*)`", cell)
        if default is None:
            if literal:
                wrong.append(f"PACE_{name}: README.md says {cell}, config.c computes it (NULL)")
        elif default == "":
            if cell != "none":
                wrong.append(f"PACE_{name}: README.md says {cell!r}, config.c's default is empty (write none)")
        elif not literal or literal.group(1) != default:
            wrong.append(f"PACE_{name}: README.md says {cell!r}, config.c's default is `{default}`")
    assert not wrong, "README.md's defaults differ from src/config/config.c:\n  " + "\n  ".join(wrong)
