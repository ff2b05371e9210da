"""
The fixture sites the browser tests crawl: a small gallery with real PNGs
(so the screenshot shows thumbnails), and a page of hostile image URLs and
alt texts whose every payload would set C{window.__pwned} if it ever ran.
"""

import html
import struct
import zlib
from urllib.parse import urlsplit

from common.urls import normalize
from tests.site import page


def png(width, height, rgb):
    """A solid-colour PNG, made here so the fixtures need no image files."""
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))


COLOURS = [(230, 57, 70), (241, 143, 1), (255, 209, 102), (6, 214, 160), (17, 138, 178),
           (7, 59, 76), (131, 56, 236), (255, 0, 110), (58, 134, 255), (251, 86, 7),
           (142, 202, 230), (33, 158, 188)]


def _image_routes():
    return {f"/img/{n}.png": page(png(160, 120, rgb), content_type="image/png")
            for n, rgb in enumerate(COLOURS)}


GALLERY = {
    "/": page("""<!doctype html><title>Gallery</title>
        <meta property="og:image" content="/img/0.png">
        <img src="/img/1.png" alt="Orange">
        <img src="/img/2.png" srcset="/img/3.png 2x" alt="Yellow">
        <picture><source srcset="/img/4.png"><img src="/img/5.png" alt="Navy"></picture>
        <div style="background-image: url(/img/6.png)"></div>
        <a href="/more">more</a> <a href="/other">other</a>"""),
    "/more": page("""<!doctype html><title>More</title>
        <img src="/img/7.png" alt="Pink"> <img data-src="/img/8.png" alt="Blue">
        <img src="/img/1.png" alt="Orange again">"""),
    "/other": page("""<!doctype html><title>Other</title>
        <video poster="/img/9.png"></video> <input type="image" src="/img/10.png">
        <img src="/img/11.png" alt="Sky">"""),
    **_image_routes(),
}

# Each payload, if it ever became markup or a script URL, sets window.__pwned.
RUN = "window.__pwned=1"
# A page whose own URL is hostile, so the image details' "found on" list is too.
NEXT = f'/next?q=<script>{RUN}</script>&x="><img src=x onerror={RUN}>'


def _requested(href):
    """The path and query the crawler asks for when it follows C{href}."""
    parts = urlsplit(normalize(href, "http://fixture.test/"))
    return f"{parts.path}?{parts.query}"


XSS = {
    "/": page(f"""<!doctype html><title>x</title>
        <img src='/img/a.png?"><img src=x onerror="{RUN}">' alt='"><img src=x onerror={RUN}><script>{RUN}</script>'>
        <img src="/img/<script>{RUN}</script>.png" alt="<b onmouseover={RUN}>bold</b>">
        <img data-src="/img/'onload='{RUN}'.png" alt="' onload='{RUN}' x='">
        <img src="/img/0.png" alt="</figcaption></figure><script>{RUN}</script>">
        <img src="javascript:{RUN}" alt="javascript url"> <img src=" JaVaScRiPt:{RUN}">
        <img src="data:text/html,<script>{RUN}</script>" alt="data url">
        <meta property="og:image" content="/img/1.png#<svg onload={RUN}>">
        <a href="{html.escape(NEXT)}">next</a>"""),
    _requested(NEXT): page(f"""<!doctype html><title>y</title>
        <img src="/img/2.png" alt="&lt;/textarea&gt;&lt;script&gt;{RUN}&lt;/script&gt;">
        <img src="/img/3.png?u=javascript:{RUN}" alt="{{{{constructor.constructor('{RUN}')()}}}}">"""),
    **_image_routes(),
}
