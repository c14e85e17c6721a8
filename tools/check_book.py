"""The book in a real browser: every page of the built site, opened from disk, offline.

    python tools/check_book.py [build/book/html] [--screenshots build/book-screenshots]
    make book-check

Opens every HTML page of the site (file://) in headless Chromium (Debian's ``chromium``
package, driven by Playwright for Python; no browser download) with every http(s)
request aborted and recorded, waits for MathJax to finish, saves one full-page
screenshot per page, and fails (exit 1, with the list) on:

- a request to the network (a CDN: the site must work offline);
- JavaScript errors (uncaught exceptions, console errors);
- images that did not load (``naturalWidth`` 0);
- unrendered math: raw ``$$``, ``\\(``, ``\\[`` or ``$...\\cmd...$`` left in the visible
  text outside code; MathJax errors (``mjx-merror``); math on a page without MathJax;
- broken internal links: the target file is missing, or its anchor id is.
"""

import argparse
import fnmatch
import html.parser
import os
import re
import sys
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SKIP_DIRS = {"_static", "_sources", "_images", "_downloads", ".doctrees"}

# Visible text outside code, math containers and scripts (JavaScript, run in the page).
_VISIBLE_TEXT = """() => {
  const skip = new Set(["PRE", "CODE", "SCRIPT", "STYLE", "TEXTAREA", "KBD", "SAMP", "NOSCRIPT",
                        "MJX-CONTAINER", "MJX-ASSISTIVE-MML", "MATH"]);
  const parts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    let el = node.parentElement, hidden = false;
    for (let a = el; a; a = a.parentElement) {
      if (skip.has(a.tagName.toUpperCase()) || a.classList.contains("highlight")) { hidden = true; break; }
    }
    if (hidden || !el.checkVisibility()) continue;
    parts.push(node.textContent);
  }
  return parts.join(" ");
}"""

_WAIT_IMAGES = """() => Promise.all([...document.images].map(img => {
  img.loading = "eager";
  if (img.complete) return null;
  return new Promise(done => { img.onload = img.onerror = done; setTimeout(done, 10000); });
}))"""

_BROKEN_IMAGES = """() => [...document.images]
  .filter(img => !(img.complete && img.naturalWidth > 0))
  .map(img => img.getAttribute("src"))"""

_WAIT_MATHJAX = """async () => {
  if (!window.MathJax) return "none";
  for (let i = 0; i < 200 && !(MathJax.startup && MathJax.startup.promise); i++)
    await new Promise(r => setTimeout(r, 50));
  if (!(MathJax.startup && MathJax.startup.promise)) return "no startup";
  await MathJax.startup.promise;
  return "ok";
}"""

_HAS_MATH = """() => document.querySelectorAll("div.math, span.math, .math, mjx-container").length"""

_MATH_ERRORS = """() => [...document.querySelectorAll("mjx-merror, [data-mjx-error]")]
  .map(e => (e.getAttribute("data-mjx-error") || e.textContent || "").slice(0, 80))"""

_LINKS = """() => [...document.querySelectorAll("a[href]")].map(a => a.getAttribute("href"))"""

RAW_MATH = [
    (re.compile(r"\$\$"), "$$"),
    (re.compile(r"\\\("), "\\("),
    (re.compile(r"\\\["), "\\["),
    (re.compile(r"(?<![\w$])\$[^$\n]{0,200}?\\[A-Za-z]+[^$\n]{0,200}?\$"), "$...\\cmd...$"),
]


class _Ids(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value)


_id_cache = {}


def page_ids(path):
    path = Path(path)
    if path not in _id_cache:
        parser = _Ids()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        _id_cache[path] = parser.ids
    return _id_cache[path]


def pages(html_dir):
    html_dir = Path(html_dir)
    return sorted(p for p in html_dir.rglob("*.html")
                  if not SKIP_DIRS.intersection(p.relative_to(html_dir).parts))


def link_problems(page, hrefs, html_dir):
    """Internal links of ``page`` whose file or anchor is missing."""
    problems = []
    for href in hrefs:
        if not href or href.startswith(("http:", "https:", "mailto:", "javascript:", "data:", "//")):
            continue
        parts = urllib.parse.urlsplit(href)
        if parts.scheme and parts.scheme != "file":
            continue
        target = page if not parts.path else (page.parent / urllib.parse.unquote(parts.path)).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.exists():
            problems.append(f"broken link {href!r}: {target} does not exist")
            continue
        anchor = urllib.parse.unquote(parts.fragment)
        if anchor and target.suffix == ".html" and anchor not in page_ids(target):
            problems.append(f"broken link {href!r}: no id {anchor!r} in {target.name}")
    return problems


def raw_math(text):
    found = []
    for pattern, label in RAW_MATH:
        m = pattern.search(text)
        if m:
            start = max(0, m.start() - 30)
            found.append(f"unrendered math ({label}): ...{text[start:m.end() + 30]!r}...")
    return found


def _router(problems):
    """Abort and record every request to the network; let file:// through."""
    def route(route):
        url = route.request.url
        if url.startswith(("http:", "https:", "ws:", "wss:")):
            problems.append(f"network request (the site must work offline): {url}")
            route.abort()
        else:
            route.continue_()
    return route


def check_site(html_dir, screenshots=None, chromium=CHROMIUM, timeout_ms=60000, log=print, only=None):
    """Check every page (or those whose relative path matches one of the glob patterns
    ``only``); returns {page (relative path): [problems]} for the pages with problems."""
    from playwright.sync_api import sync_playwright

    html_dir = Path(html_dir).resolve()
    if screenshots:
        Path(screenshots).mkdir(parents=True, exist_ok=True)
    results = {}
    all_pages = [p for p in pages(html_dir)
                 if not only or any(fnmatch.fnmatch(p.relative_to(html_dir).as_posix(), pat) for pat in only)]
    if not all_pages:
        return {"(site)": [f"no HTML pages under {html_dir}"]}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=False)
            for path in all_pages:
                rel = path.relative_to(html_dir).as_posix()
                problems = []
                page = context.new_page()
                page.set_default_timeout(timeout_ms)

                page.route("**/*", _router(problems))
                page.on("pageerror", lambda error, problems=problems: problems.append(f"JavaScript error: {error}"))
                page.on("console", lambda msg, problems=problems: problems.append(f"console error: {msg.text}")
                        if msg.type == "error" else None)
                page.goto(path.as_uri(), wait_until="load")
                state = page.evaluate(_WAIT_MATHJAX)
                if state == "no startup":
                    problems.append("MathJax did not start")
                if state == "none" and page.evaluate(_HAS_MATH):
                    problems.append("math on the page but no MathJax")
                page.evaluate(_WAIT_IMAGES)
                for src in page.evaluate(_BROKEN_IMAGES):
                    problems.append(f"image did not load: {src}")
                for error in page.evaluate(_MATH_ERRORS):
                    problems.append(f"MathJax error: {error}")
                problems.extend(raw_math(page.evaluate(_VISIBLE_TEXT)))
                problems.extend(link_problems(path, page.evaluate(_LINKS), html_dir))
                if screenshots:
                    shot = Path(screenshots) / (rel.replace("/", "__").removesuffix(".html") + ".png")
                    page.screenshot(path=str(shot), full_page=True)
                page.close()
                log(f"  {rel}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
                if problems:
                    results[rel] = list(dict.fromkeys(problems))
        finally:
            browser.close()
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html_dir", nargs="?", default=str(ROOT / "build" / "book" / "html"))
    parser.add_argument("--screenshots", default=str(ROOT / "build" / "book-screenshots"))
    parser.add_argument("--chromium", default=CHROMIUM)
    parser.add_argument("--only", action="append", metavar="GLOB",
                        help="check only pages whose path matches (repeatable), e.g. --only 'docs/*'")
    args = parser.parse_args(argv)
    if not Path(args.chromium).exists():
        print(f"check_book: no Chromium at {args.chromium} (apt-get install chromium, or --chromium PATH)")
        return 2
    if not (Path(args.html_dir) / "index.html").exists():
        print(f"check_book: no site at {args.html_dir} (make book first)")
        return 2
    print(f"check_book: {args.html_dir} in {args.chromium}, screenshots in {args.screenshots}")
    results = check_site(args.html_dir, args.screenshots, args.chromium, only=args.only)
    if results:
        print(f"\ncheck_book: problems on {len(results)} page(s):")
        for rel, problems in results.items():
            for problem in problems:
                print(f"  {rel}: {problem}")
        return 1
    print("check_book: all pages ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
