"""Properties of decode_html() and is_html(): bytes as servers send them,
with or without BOMs, HTTP charsets and <meta> declarations."""

import codecs
import re

from hypothesis import assume, example, given
from hypothesis import strategies as st

from tests.fuzz.contracts import check_page
from tests.fuzz.strategies import documents
from worker.decoding import decode_html, is_html
from worker.extract import extract

PAGE = "http://site.test/dir/page.html"

# Names only Python's codec registry knows, some of them no text encodings.
_PYTHON_ONLY_LABELS = st.sampled_from([
    "base64", "hex", "rot13", "zlib", "bz2", "uu", "quopri", "idna", "punycode", "undefined",
    "unicode_escape", "raw_unicode_escape", "utf-8-sig", "cp037", "hz", "mbcs",
])
_LABELS = _PYTHON_ONLY_LABELS | st.sampled_from([
    "utf-8", "UTF8", "utf-16", "utf-16le", "utf-16be", "iso-8859-1", "latin1", "windows-1252",
    "shift_jis", "euc-jp", "iso-2022-jp", "gbk", "gb18030", "big5", "euc-kr", "koi8-r",
    "utf-32", "x-user-defined", "utf-7", "bogus", "",
])
_content_types = st.one_of(
    st.none(),
    st.builds("text/html; charset={}".format, _LABELS),
    st.builds('text/html;charset="{}"'.format, _LABELS),
    st.text(max_size=30),
)
_bodies = st.one_of(
    st.binary(),
    st.builds(lambda label, rest: b'<meta charset="%s">' % label.encode() + rest, _LABELS,
              st.binary()),
    st.builds(lambda bom, rest: bom + rest,
              st.sampled_from([codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE,
                               codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE]), st.binary()),
)


def _is_text(decoded: str) -> bool:
    """Unicode text without lone surrogates, as any decoder's output must be."""
    try:
        decoded.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@given(_bodies, _content_types)
@example(b'<meta charset="base64"><img src=a.png>', None)
@example(b"<p>caf\xe9</p>", "text/html; charset=idna")
@example(b"\\ud800", "text/html; charset=unicode_escape")
def test_any_bytes_decode_to_text(body, content_type):
    """No body and no declared encoding, however bogus, makes decoding
    raise: a page that names a codec no browser knows is read as a browser
    reads it, as if it named none.  The result is text that extract() can
    take and that can be stored (no lone surrogates), the same every time."""
    decoded = decode_html(body, content_type)
    assert isinstance(decoded, str)
    assert _is_text(decoded)
    assert decode_html(body, content_type) == decoded
    check_page(extract(decoded, PAGE))


@given(_bodies, _PYTHON_ONLY_LABELS)
@example(b"<p>caf\xe9</p>", "base64")
def test_labels_no_browser_knows_are_ignored(body, label):
    """An HTTP charset or <meta> naming an encoding outside the Encoding
    standard counts as no declaration: the page decodes as it would
    without it (browsers ignore labels they do not know)."""
    assert decode_html(body, f"text/html; charset={label}") == decode_html(body, None)
    meta, unknown = b'<meta charset="%s">' % label.encode(), b'<meta charset="no-such">'
    after_meta = decode_html(meta + body, None)[len(meta):]
    assert after_meta == decode_html(unknown + body, None)[len(unknown):]


_text = st.text(st.characters(codec="utf-8"))
_BOMS = st.sampled_from([
    (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
])


@given(_text, _BOMS, _content_types)
@example("\x00<p>", (codecs.BOM_UTF16_LE, "utf-16-le"), None)
def test_a_bom_decides(text, bom_and_encoding, content_type):
    """A UTF-8 or UTF-16 byte order mark beats the HTTP charset and <meta>,
    as in browsers (the Encoding standard's BOM sniffing), whatever the
    text after it; no other BOM exists for the web."""
    bom, encoding = bom_and_encoding
    assert decode_html(bom + text.encode(encoding), content_type) == text


# Labels, the codecs that encode what browsers decode with those labels, and
# characters of their repertoires beyond ASCII.
_DECLARED = st.sampled_from([
    ("utf-8", "utf-8", "é€画😀"), ("windows-1252", "cp1252", "éü€–"),
    ("iso-8859-1", "cp1252", "é€"), ("shift_jis", "cp932", "画像ｶ"),
    ("euc-kr", "cp949", "한국"), ("gbk", "gb18030", "中文€"), ("koi8-r", "koi8-r", "фото"),
    ("iso-8859-5", "iso8859-5", "фото"), ("euc-jp", "euc_jp", "画像"),
    ("big5", "big5hkscs", "中文"), ("windows-1251", "cp1251", "фото"),
])


@st.composite
def _declared_texts(draw, declared=_DECLARED) -> tuple[str, str, str]:
    """(label, codec, text the codec can encode)."""
    label, codec, repertoire = draw(declared)
    alphabet = st.characters(codec="ascii") | st.sampled_from(repertoire)
    return label, codec, draw(st.text(alphabet))


def _encodes(text: str, codec: str) -> bytes:
    """`text` in `codec`, if that makes no BOM (which would decide instead)."""
    body = text.encode(codec)
    assume(not body.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)))
    return body


@given(_declared_texts(), st.sampled_from(["text/html; charset={}", 'text/html;charset="{}"',
                                           "TEXT/HTML ; Charset={}"]))
def test_an_http_charset_decides(declared, header):
    """Without a BOM, the HTTP charset decides, whatever the page's <meta>."""
    label, codec, text = declared
    html = '<meta charset="koi8-u">' + text
    assert decode_html(_encodes(html, codec), header.format(label)) == html


@given(_declared_texts(_DECLARED | st.just(("utf-16", "utf-8", "é"))),
       st.sampled_from([None, "text/html"]))
def test_a_meta_charset_decides(declared, content_type):
    """Without a BOM or HTTP charset, the page's <meta> decides; an ASCII
    page cannot truthfully declare UTF-16, so that means UTF-8."""
    label, codec, text = declared
    html = f'<meta charset="{label}">' + text
    assert decode_html(_encodes(html, codec), content_type) == html


_undeclared = _text.filter(
    lambda t: not re.search("charset|encoding", t, re.IGNORECASE) and not t.startswith("\ufeff")
)


@given(_undeclared, st.integers(0, 3))
def test_undeclared_utf8_is_utf8_even_cut_short(text, cut):
    """An undeclared page that is UTF-8 is read as UTF-8, also when the
    download limit cut it inside a character (the cut character becomes
    U+FFFD, the rest is intact)."""
    body = text.encode("utf-8")
    body = body[:len(body) - cut] if cut < len(body) else body
    assert decode_html(body, None) == body.decode("utf-8", "replace")


_not_utf8 = st.builds(
    lambda before, byte, after: before + byte + after,
    st.binary(), st.sampled_from([b"\xff", b"\xfe", b"\xc0", b"\xe9 "]), st.binary(),
)


@given(_not_utf8.filter(lambda b: not re.search(rb"charset|encoding", b, re.IGNORECASE)))
def test_undeclared_legacy_bytes_are_windows_1252(body):
    """An undeclared page that is not UTF-8 (not even cut short) is read as
    windows-1252, the browsers' fallback for Western pages."""
    assume(not body.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)))
    assert decode_html(body, None) == body.decode("cp1252", "replace")


@given(documents(), st.sampled_from([
    (codecs.BOM_UTF8, "utf-8", None), (codecs.BOM_UTF16_LE, "utf-16-le", "text/html"),
    (codecs.BOM_UTF16_BE, "utf-16-be", None), (b"", "utf-8", "text/html; charset=utf-8"),
    (b"", "utf-16-le", "text/html; charset=utf-16"), (b"", "utf-8", None),
]))
def test_encoded_pages_give_the_same_images(document, encoding):
    """A page in UTF-8 or UTF-16, told by its BOM, its HTTP charset or by
    being valid UTF-8, gives the images and links of its text: decoding
    and extraction agree on non-ASCII URLs."""
    bom, codec, content_type = encoding
    html = document.html()
    body = bom + html.encode(codec)
    assert extract(decode_html(body, content_type), PAGE) == extract(html, PAGE)


# --- sniffing ----------------------------------------------------------------


def _any_case(draw, text: str) -> str:
    return "".join(c.upper() if draw(st.booleans()) else c for c in text)


_PARAMETERS = st.sampled_from(["", "; charset=utf-8", ";charset=x", " ; q=1"])


@st.composite
def _content_type(draw, mimes) -> str:
    return _any_case(draw, draw(st.sampled_from(mimes))) + draw(_PARAMETERS)


@given(_content_type(["text/html", "application/xhtml+xml"]), st.binary())
def test_declared_html_is_html(content_type, body):
    """A declared HTML type is HTML, whatever the body, in any case and
    with any parameters."""
    assert is_html(content_type, body) is True


@given(_content_type(["image/png", "application/json", "text/plain", "text/css",
                      "application/pdf", "text/xml", "image/svg+xml"]), st.binary())
@example("text/plain", b"<html>")
def test_declared_other_types_are_not_html(content_type, body):
    """A declared type that is not HTML is not, even if the body looks like
    HTML: browsers trust the type, and so does the crawler."""
    assert is_html(content_type, body) is False


_SIGNATURES = st.sampled_from([
    "<!doctype html", "<html", "<head", "<script", "<iframe", "<h1", "<div", "<font", "<table",
    "<a", "<style", "<title", "<b", "<body", "<br", "<p", "<!--",
])
_UNKNOWN = st.sampled_from([None, "", "unknown/unknown", "application/unknown", "*/*"])


@st.composite
def _sniffed_html(draw) -> bytes:
    """The start of an HTML page as the MIME Sniffing standard recognises it:
    white space, a tag name in any case, then a space or ">"."""
    head = (draw(st.sampled_from([b"", codecs.BOM_UTF8]))
            + draw(st.text(st.sampled_from("\t\n\x0c\r "), max_size=20)).encode()
            + _any_case(draw, draw(_SIGNATURES)).encode()
            + draw(st.sampled_from([b" ", b">"])))
    return head + draw(st.binary())


@given(_UNKNOWN, _sniffed_html())
def test_undeclared_html_is_sniffed(content_type, body):
    """Without a useful type, a body that starts like HTML is HTML."""
    assert is_html(content_type, body) is True


@given(_UNKNOWN, st.binary().filter(lambda b: not b.lstrip(b"\t\n\x0c\r ").startswith(b"<")))
def test_undeclared_non_markup_is_not_html(content_type, body):
    """Without a useful type, a body that does not start with markup (an
    image, a PDF, JSON, text) is not HTML."""
    assume(not body.startswith(codecs.BOM_UTF8))
    assert is_html(content_type, body) is False


@given(st.none() | st.text(st.characters(exclude_categories=())), st.binary())
def test_sniffing_never_raises(content_type, body):
    """Headers and bodies are the server's: any of them gives an answer."""
    assert is_html(content_type, body) in (True, False)
