"""MkDocs hook (mkdocs.yml `hooks:`): every page in docs/ is in the navigation.

mkdocs.yml lists the pages in reading order. A page it does not list, such as one added since,
is appended under "More" rather than left out, so adding a page to docs/ never needs an edit
of mkdocs.yml to build (`mkdocs build --strict` fails on pages missing from the navigation).
"""
import os


def listed_pages(nav) -> list:
    """The file names a `nav` configuration refers to, in order."""
    found = []
    for item in nav or []:
        values = item.values() if isinstance(item, dict) else [item]
        for value in values:
            if isinstance(value, str):
                found.append(value)
            else:
                found.extend(listed_pages(value))
    return found


def on_config(config):
    if config["nav"] is None:  # no nav at all: MkDocs lists every page by itself
        return config
    docs_dir = config["docs_dir"]
    pages = sorted(
        os.path.relpath(os.path.join(folder, name), docs_dir).replace(os.sep, "/")
        for folder, _, names in os.walk(docs_dir)
        for name in names
        if name.endswith(".md")
    )
    listed = set(listed_pages(config["nav"]))
    unlisted = [page for page in pages if page not in listed]
    if unlisted:
        config["nav"].append({"More": unlisted})
    return config
