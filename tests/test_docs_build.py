"""The documentation site builds with `mkdocs build --strict`, every page is in its navigation,
and the API reference names every public name.

mkdocs is in the `test` extra (pip install -e '.[test]'). Sites are built into temporary folders.
"""
import importlib.util
import inspect
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

import tracediff as td
from tracediff import pytest_plugin
from tracediff.api import GradFunction

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))


def run_mkdocs(config_dir: pathlib.Path, site_dir: pathlib.Path) -> subprocess.CompletedProcess:
    """`mkdocs build --strict` of config_dir/mkdocs.yml into site_dir."""
    if importlib.util.find_spec("mkdocs") is None:
        pytest.fail("mkdocs is not installed; it is in the test extra: pip install -e '.[test]'")
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config_dir / "mkdocs.yml"),
         "--site-dir", str(site_dir)],
        cwd=config_dir, capture_output=True, text=True, timeout=120,
    )


def build(config_dir: pathlib.Path, site_dir: pathlib.Path) -> subprocess.CompletedProcess:
    done = run_mkdocs(config_dir, site_dir)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    return done


def page_url(page: str) -> str:
    """Where MkDocs (with directory URLs) puts a page, relative to the site root."""
    stem = page[: -len(".md")]
    if stem == "index":
        return ""
    return stem[: -len("index")] if stem.endswith("/index") else stem + "/"


def test_docs_build_strict_and_every_page_is_in_the_navigation(tmp_path):
    site = tmp_path / "site"
    build(ROOT, site)
    home = (site / "index.html").read_text()
    for page in PAGES:
        assert (site / page_url(page) / "index.html").exists(), f"{page} was not built"
        url = page_url(page)
        if url:
            assert f'href="{url}"' in home, f"{page} is not in the site's navigation"


def test_a_page_added_later_is_built_and_listed_without_editing_mkdocs_yml(tmp_path):
    """Other pages arrive in docs/ in parallel work: they must neither fail the strict build nor
    be left out of the navigation (mkdocs_hooks.py lists them under "More")."""
    work = tmp_path / "project"
    shutil.copytree(DOCS, work / "docs")
    shutil.copy(ROOT / "mkdocs.yml", work)
    shutil.copy(ROOT / "mkdocs_hooks.py", work)
    (work / "docs" / "zz-added-later.md").write_text("# Added later\n\nSee [concepts](concepts.md).\n")
    (work / "docs" / "guides").mkdir()
    (work / "docs" / "guides" / "nested.md").write_text("# A nested page\n\nBack to [the index](../index.md).\n")
    site = tmp_path / "site"
    build(work, site)
    home = (site / "index.html").read_text()
    assert 'href="zz-added-later/"' in home and 'href="guides/nested/"' in home
    assert "More" in home
    assert "Added later" in (site / "zz-added-later" / "index.html").read_text()


def test_a_broken_link_fails_the_build(tmp_path):
    """The strict build is not vacuous: a link to a missing page is an error."""
    work = tmp_path / "project"
    shutil.copytree(DOCS, work / "docs")
    shutil.copy(ROOT / "mkdocs.yml", work)
    shutil.copy(ROOT / "mkdocs_hooks.py", work)
    (work / "docs" / "broken.md").write_text("# Broken\n\nSee [nothing](no-such-page.md).\n")
    done = run_mkdocs(work, tmp_path / "site")
    assert done.returncode != 0
    assert "no-such-page.md" in done.stdout + done.stderr


def test_nav_lists_only_pages_that_exist():
    import yaml  # installed with mkdocs

    spec = importlib.util.spec_from_file_location("mkdocs_hooks", ROOT / "mkdocs_hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    listed = hooks.listed_pages(config["nav"])
    missing = [page for page in listed if page not in PAGES]
    assert missing == [], f"mkdocs.yml lists pages that are not in docs/: {missing}"
    assert len(listed) == len(set(listed)), "a page is listed twice in mkdocs.yml"


# --- the API reference ---------------------------------------------------------------------------


def public_names():
    """Every public name a user can reach, spelled as the API reference's headings spell it."""
    names = [f"td.{name}" for name in td.__all__] + ["td.__version__"]
    names += [f"td.testing.{name}" for name, obj in vars(td.testing).items()
              if not name.startswith("_") and inspect.isfunction(obj) and obj.__module__ == "tracediff.testing"]
    names += [f".{name}" for name in dir(GradFunction) if not name.startswith("_")]  # compiled gradients
    names += [name for name in pytest_plugin.__all__]
    return names


def test_api_reference_names_every_public_name():
    text = (DOCS / "api-reference.md").read_text()
    headings = set(re.findall(r"^#{2,4} (?:The )?`([^`]+)`", text, flags=re.M))
    missing = [name for name in public_names() if name not in headings]
    assert missing == [], (
        f"docs/api-reference.md has no entry for {missing}: add a section headed ### `name` for each "
        "(this test keeps the reference complete)")


def test_readme_links_to_docs_that_exist():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert links, "README links to no docs page"
    missing = [link for link in links if not (ROOT / link).exists()]
    assert missing == [], f"README links to missing files: {missing}"
