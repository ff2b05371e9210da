"""The fixture websites the integration tests crawl, with what they expect."""

from tests.site import page

HOME = """<!doctype html><html><head>
<meta property="og:image" content="/img/og.png">
<meta name="twitter:image" content="/img/tw.png">
<link rel="icon" href="/favicon.ico">
<link rel="apple-touch-icon" href="/img/touch.png">
<title>home</title></head><body>
<img src="/img/a.png" alt="Alpha">
<img srcset="/img/s1.png 1x, /img/s,2.png 2x" alt="">
<picture><source srcset="/img/p.webp" type="image/webp"><img src="/img/p.jpg"></picture>
<img data-src="/img/lazy.png" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<div style="background-image: url('/img/bg.png')">bg</div>
<input type="image" src="/img/button.png">
<video poster="/img/poster.jpg"></video>
<svg><image href="/img/vector.png"/></svg>
<img src="/img/caf%C3%A9.png"><img src="/img/naïve.png">
<script>var s = '<img src="/img/fake.png">';</script>
<a href="/a">A</a> <a href="/b#frag">B</a> <a href="/a">A again</a>
<a href="/missing">gone</a> <a href="/old">moved</a> <a href="/photo.jpg">photo</a>
<a href="mailto:someone@example.test">mail</a> <a href="javascript:void(0)">js</a>
<a href="http://other.test/">elsewhere</a>
</body></html>"""

ROUTES = {
    "/": page(HOME),
    "/a": page('<img src="/img/a.png"><img src="/img/a2.png"><a href="/">home</a><a href="/deep">deep</a>'),
    "/b": page('<html><head><base href="/sub/"></head><body><img src="x.png" alt="based">'
               '<a href="../">home</a></body></html>'),
    "/old": (301, {"Location": "/new"}, b""),
    "/new": page('<img src="/img/new.png"><a href="/a">a</a>'),
    "/photo.jpg": (200, {"Content-Type": "image/jpeg"}, b"\xff\xd8\xff\xe0 not really a jpeg"),
    "/deep": page('<img src="/img/deep.png"><a href="/deeper">deeper</a>'),
    "/deeper": page('<img src="/img/deeper.png">'),
}

HOME_IMAGES = {
    "/img/og.png": ["meta"], "/img/tw.png": ["meta"], "/favicon.ico": ["link"],
    "/img/touch.png": ["link"], "/img/a.png": ["img"], "/img/s1.png": ["srcset"],
    "/img/s,2.png": ["srcset"], "/img/p.webp": ["picture"], "/img/p.jpg": ["img"],
    "/img/lazy.png": ["lazy"], "/img/bg.png": ["style"], "/img/button.png": ["input"],
    "/img/poster.jpg": ["poster"], "/img/vector.png": ["svg"],
    "/img/caf%C3%A9.png": ["img"], "/img/na%C3%AFve.png": ["img"],
}
DEPTH1_IMAGES = {"/img/a2.png", "/sub/x.png", "/img/new.png"}
# path -> (depth, status) with max_depth=1
DEPTH1_PAGES = {
    "/": (0, 200), "/a": (1, 200), "/b": (1, 200), "/missing": (1, 404),
    "/old": (1, 200), "/photo.jpg": (1, 200),
}
