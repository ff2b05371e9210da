"""
A deterministic synthetic website, and the exact pages and images a
correct crawler must find on it.

Why synthetic: recall and precision need ground truth, and a benchmark
that crawls the same bytes every time is comparable across runs and
machines.  The same L{Shape} and seed always give the same files.

Shape: the pages form a tree in heap order (page 0 is C{/}, page C{n} is
C{/p/n.html}, its children are C{n*B+1 .. n*B+B}), with the branching
factor C{B} the smallest that fits C{pages} within C{depth} levels, so a
crawl with C{max_depth = depth} reaches every page.  Each page links to all
its children, then fills up to C{links} links with pages that are already
admitted by the time it is crawled in any order (its own fragment, its
parent, the root, siblings, uncles): real navigation, which exercises
dedup without ever making a page's crawl depth depend on timing.

Images: every page has C{images} distinct image URLs drawn from every kind
a browser loads (see L{_BODY_KINDS} and the head), about a fifth of them
from a site-wide shared pool so that images repeat across pages, plus
traps that are not images (a C{data:} placeholder, a C{<video><source>},
a stylesheet, a script, an C{<img>} inside a script string).  Pages are
padded with prose to C{page_bytes}.
"""

import json
import os
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import ROOT

SITES_DIR = ROOT / "bench" / "site"
_HEAD_IMAGES = 4  # og:image, twitter:image, icon, apple-touch-icon
_SHARED_POOL = 200
_SHARED_SHARE = 0.2
_WORDS = ("crawler image twisted redis worker frontier lease page link photo "
          "gallery picture thumbnail banner poster icon vector render browser "
          "lazy source srcset density width height archive season river city").split()
_PLACEHOLDER = "data:image/gif;base64,R0lGODlhAQABAAAAACw="


@dataclass(frozen=True)
class Shape:
    pages: int = 2000
    links: int = 12
    images: int = 30
    depth: int = 4
    page_bytes: int = 14_000
    seed: int = 1

    @property
    def branching(self):
        """The smallest B whose tree of C{depth} levels holds C{pages}."""
        for b in range(1, self.pages + 1):
            if sum(b ** d for d in range(self.depth + 1)) >= self.pages:
                return b
        raise ValueError(f"{self.pages} pages cannot fit in depth {self.depth}")

    def check(self):
        if self.pages < 1 or self.depth < 0 or self.images < _HEAD_IMAGES:
            raise ValueError(f"need pages >= 1, depth >= 0, images >= {_HEAD_IMAGES}")
        if self.links < self.branching:
            raise ValueError(f"{self.pages} pages in depth {self.depth} need {self.branching} "
                             f"links per page; --links is {self.links}")
        return self

    @property
    def key(self):
        return "-".join(f"{k}{v}" for k, v in asdict(self).items())


def page_path(n):
    return "/" if n == 0 else f"/p/{n}.html"


def tree_depth(n, branching):
    depth = 0
    while n:
        n, depth = (n - 1) // branching, depth + 1
    return depth


def _children(n, shape):
    first = n * shape.branching + 1
    return list(range(first, min(first + shape.branching, shape.pages)))


def _admitted_before(n, shape):
    """Pages certainly admitted before C{n} is crawled: ancestors and the
    children of every ancestor (siblings, uncles...)."""
    found, node = [], n
    while node:
        parent = (node - 1) // shape.branching
        found.append(parent)
        found.extend(c for c in _children(parent, shape) if c != n)
        node = parent
    return list(dict.fromkeys(found))


def _href(target, n, style, fragment=""):
    """The same page written in the ways sites write links."""
    if target == 0:
        return "/" + fragment
    if style == 1:
        return (f"{target}.html" if n else f"p/{target}.html") + fragment
    return f"/p/{target}.html{fragment}"


def page_links(n, shape, rng):
    children = _children(n, shape)
    others = _admitted_before(n, shape)
    rng.shuffle(others)
    hrefs = [_href(c, n, i % 2) for i, c in enumerate(children)]
    hrefs.append(_href(n, n, 0, "#top"))
    hrefs.extend(_href(t, n, i % 2) for i, t in enumerate(others))
    return hrefs[: shape.links]


def page_images(n, shape, rng):
    """The page's body image URLs, distinct, some from the shared pool."""
    urls = []
    while len(urls) < shape.images - _HEAD_IMAGES:
        i = len(urls)
        url = f"/img/{n}/{i}.{('jpg', 'png', 'webp')[i % 3]}"
        if rng.random() < _SHARED_SHARE:
            shared = f"/img/shared/{rng.randrange(_SHARED_POOL)}.jpg"
            url = shared if shared not in urls else url
        urls.append(url)
    return urls


def _head(n):
    return (f'<meta charset="utf-8"><title>Page {n}</title>\n'
            f'<meta property="og:image" content="/img/{n}/og.jpg">\n'
            f'<meta name="twitter:image" content="/img/{n}/tw.jpg">\n'
            '<link rel="icon" href="/static/favicon.ico">\n'
            '<link rel="apple-touch-icon" href="/static/touch-icon.png">\n'
            '<link rel="stylesheet" href="/static/site.css">\n'
            '<script src="/static/site.js"></script>\n')


def head_images(n):
    return [f"/img/{n}/og.jpg", f"/img/{n}/tw.jpg", "/static/favicon.ico", "/static/touch-icon.png"]


# (kind, URLs it takes, template); every template also carries an alt text.
_BODY_KINDS = (
    ("img", 1, '<img src="{0}" alt="{alt}">'),
    ("srcset", 2, '<img src="{0}" srcset="{0} 480w, {1} 800w" sizes="(max-width: 600px) 480px, 800px" alt="{alt}">'),
    ("picture", 3, '<picture><source type="image/webp" srcset="{0} 1x, {1} 2x"><img src="{2}" alt="{alt}"></picture>'),
    ("lazy", 1, '<img class="lazy" data-src="{0}" src="' + _PLACEHOLDER + '" alt="{alt}">'),
    ("style", 1, '<div class="hero" style="background-image: url(\'{0}\')"></div>'),
    ("input", 1, '<input type="image" src="{0}" alt="{alt}">'),
    ("poster", 1, '<video poster="{0}" controls><source src="/media/{n}.mp4" type="video/mp4"></video>'),
    ("svg", 1, '<svg viewBox="0 0 10 10"><image href="{0}" width="10" height="10"/></svg>'),
)


def body_elements(n, urls):
    """Render C{urls} round-robin over the image kinds, one element each."""
    elements, i, k = [], 0, 0
    while i < len(urls):
        kind, need, template = _BODY_KINDS[k % len(_BODY_KINDS)]
        if need > len(urls) - i:
            kind, need, template = _BODY_KINDS[0]
        elements.append(template.format(*urls[i:i + need], n=n, alt=f"{kind} {n}.{i}"))
        i, k = i + need, k + 1
    return elements


def _prose(rng, size):
    words, length = [], 0
    while length < size:
        word = rng.choice(_WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)


def render(n, shape):
    hrefs = page_links(n, shape, _rng(shape, n, "links"))
    links = "".join(f'<li><a href="{h}">link {i}</a></li>' for i, h in enumerate(hrefs))
    elements = body_elements(n, page_images(n, shape, _rng(shape, n, "images")))
    elements.append('<script>var tpl = \'<img src="/img/fake.png">\';</script>')
    skeleton = (f"<!doctype html>\n<html><head>\n{_head(n)}</head>\n<body id=\"top\">\n"
                f"<nav><ul>{links}</ul></nav>\n<main>\n{{}}</main>\n</body></html>\n")
    room = max(0, shape.page_bytes - len(skeleton) - sum(len(e) + 9 for e in elements))
    per, rng = room // len(elements), _rng(shape, n, "prose")
    body = "".join(f"{e}\n<p>{_prose(rng, per)}</p>\n" if per else f"{e}\n" for e in elements)
    return skeleton.format(body)


def expected(shape):
    """Pages and images, as paths, that a correct crawl of C{shape} finds."""
    images = set()
    for n in range(shape.pages):
        images.update(head_images(n))
        images.update(page_images(n, shape, _rng(shape, n, "images")))
    return {"pages": [page_path(n) for n in range(shape.pages)], "images": sorted(images),
            "max_depth": tree_depth(shape.pages - 1, shape.branching)}


def _rng(shape, n, part):
    """One generator per page and part, so each part can be recomputed alone."""
    return random.Random(f"{shape.seed}:{n}:{part}")


def _write(shape, target):
    (target / "p").mkdir(parents=True)
    for n in range(shape.pages):
        path = target / ("index.html" if n == 0 else f"p/{n}.html")
        path.write_text(render(n, shape), encoding="utf-8")
    truth = {"shape": asdict(shape), **expected(shape)}
    (target / "expected.json").write_text(json.dumps(truth))


def generate(shape, sites_dir=SITES_DIR):
    """
    The site for C{shape} on disk (made once, then reused): C{(directory,
    expected)}.  Written to a temporary name and renamed, so an interrupted
    run never leaves a half site that a later run would trust.
    """
    target = Path(sites_dir) / shape.check().key
    truth_file = target / "expected.json"
    if not truth_file.exists():
        partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        _write(shape, partial)
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    return target, json.loads(truth_file.read_text())
