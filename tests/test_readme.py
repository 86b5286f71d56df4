"""README.md stays true: its Python blocks run and its images exist.

Every fenced ```python block is executed in a fresh namespace (in order, so
a later block may use an earlier one's names, as a reader would), and every
image path it references must be a file in the repository.
"""

import pathlib
import re


ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

#: A fenced block opened by ```python and closed by ``` on its own line.
PYTHON_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)

#: Markdown images ``![alt](path "title")`` and HTML ``<img src="path">``.
MARKDOWN_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_IMAGE = re.compile(r"<img\b[^>]*\bsrc=[\"']([^\"']+)[\"']", re.I)


def _text():
    return README.read_text(encoding="utf-8")


def python_blocks(text):
    """The source of every ```python block of ``text``, in order."""
    return PYTHON_BLOCK.findall(text)


def image_paths(text):
    """Local image paths referenced by ``text`` (URLs are skipped)."""
    paths = MARKDOWN_IMAGE.findall(text) + HTML_IMAGE.findall(text)
    return [p for p in paths if not re.match(r"^[a-z][a-z0-9+.-]*:", p, re.I)]


def test_extractors_on_a_known_text():
    text = ("intro\n```python\nx = 1\n```\n```\nnot python\n```\n"
            "```python\ny = x + 1\n```\n![a](img/a.png) ![b](https://x/b.png)"
            ' <img src="c.svg">\n')
    assert python_blocks(text) == ["x = 1\n", "y = x + 1\n"]
    assert image_paths(text) == ["img/a.png", "c.svg"]


def test_readme_has_python_blocks():
    assert python_blocks(_text()), "README.md has no ```python block"


def test_readme_python_blocks_run(monkeypatch, capsys):
    # run from the repository root, as the README's relative paths assume
    monkeypatch.chdir(ROOT)
    namespace = {"__name__": "__readme__"}
    blocks = python_blocks(_text())
    assert blocks, "README.md has no python example"
    for k, source in enumerate(blocks):
        code = compile(source, f"README.md python block {k}", "exec")
        exec(code, namespace)


def test_readme_shows_a_figure_that_exists():
    # issue 7: the README shows one figure from the report
    paths = image_paths(_text())
    assert paths, "README.md shows no figure"
    for path in paths:
        assert (ROOT / path).is_file(), f"README.md references missing {path}"
