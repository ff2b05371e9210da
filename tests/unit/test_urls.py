"""Unit tests for common.urls: normalisation, start URL checks, URL lists, scope."""

import random
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common import urls
from common.urls import (
    SCOPES,
    InvalidURL,
    check_start_url,
    in_scope,
    normalize,
    registrable_domain,
    resolve,
    split_url_list,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://example.com", "http://example.com/"),
        ("HTTP://Example.COM/Path", "http://example.com/Path"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:80/a", "https://example.com:80/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("http://example.com:/a", "http://example.com/a"),
        ("http://example.com/a#frag", "http://example.com/a"),
        ("http://example.com/a?b=2&a=1&b=1", "http://example.com/a?b=2&a=1&b=1"),
        ("http://example.com?x=1", "http://example.com/?x=1"),
        ("  http://example.com/a \n", "http://example.com/a"),
        ("http://exa\tmple.com/a\nb", "http://example.com/ab"),
        ("http://bücher.example/", "http://xn--bcher-kva.example/"),
        ("http://BÜCHER.example/", "http://xn--bcher-kva.example/"),
        ("http://faß.de/", "http://xn--fa-hia.de/"),
        ("http://☃.net/", "http://xn--n3h.net/"),
        ("http://例え.テスト/", "http://xn--r8jz45g.xn--zckzah/"),
        ("http://%65xample.com/", "http://example.com/"),
        ("http://example.com/café ü", "http://example.com/caf%C3%A9%20%C3%BC"),
        ("http://example.com/?q=é", "http://example.com/?q=%C3%A9"),
        ("http://example.com/caf%C3%A9", "http://example.com/caf%C3%A9"),
        ("http://example.com/100%", "http://example.com/100%"),
        ('http://example.com/a"b<c>', "http://example.com/a%22b%3Cc%3E"),
        ("http://example.com/a/./b/../c", "http://example.com/a/c"),
        ("http://example.com/a/%2e%2E/b", "http://example.com/b"),
        ("http://example.com/a/b/..", "http://example.com/a/"),
        ("http://example.com/..", "http://example.com/"),
        ("http://[::1]/", "http://[::1]/"),
        ("http://[0:0::1]:8080/x", "http://[::1]:8080/x"),
        ("http://[2001:DB8::1]:80/", "http://[2001:db8::1]/"),
        ("http://1.2.3.4:8080", "http://1.2.3.4:8080/"),
        ("http:\\\\example.com\\a\\b?c\\d", "http://example.com/a/b?c\\d"),
        # Userinfo is never kept: it is never sent, and one page gets one key.
        ("http://user:p@ss@example.com/", "http://example.com/"),
        ("http://@example.com/", "http://example.com/"),
        ("https://u:@example.com/", "https://example.com/"),
        # Before this used the URL Standard, "http:///path" was refused; a
        # browser goes to http://path/, as it ignores the extra slashes.
        ("http:///path", "http://path/"),
        ("http://example.com/a?", "http://example.com/a"),
        ("http://example.com/a?#x", "http://example.com/a"),
        ("http://example.com/a??", "http://example.com/a??"),
    ],
)
def test_normalize(url, expected):
    assert normalize(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "data:image/png;base64,iVBORw0KGgo=",
        "javascript:alert(1)",
        "JavaScript:void(0)",
        "mailto:someone@example.com",
        "tel:+123456",
        "about:blank",
        "ftp://example.com/file",
        "file:///etc/passwd",
        "example.com/page",
        "//example.com/no-base",
        "http://",
        "http://example.com:99999/",
        "http://example.com:port/",
        "http://example.com::80/",
        "http://exa mple.com/",
        "http://exa%20mple.com/",
        "http://ex<ample.com/",
        "http://[::1/",
        "http://[zz::1]/",
        "http://a.test/\ud800",
    ],
)
def test_normalize_rejects(url):
    assert normalize(url) is None


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("img/a.png", "http://example.com/dir/page.html", "http://example.com/dir/img/a.png"),
        ("/img/a.png", "http://example.com/dir/page.html", "http://example.com/img/a.png"),
        ("../a.png", "http://example.com/d1/d2/p", "http://example.com/d1/a.png"),
        ("../../../../a.png", "http://example.com/d1/p", "http://example.com/a.png"),
        ("//cdn.example.com/a.png", "https://example.com/", "https://cdn.example.com/a.png"),
        ("?page=2", "http://example.com/list?page=1#top", "http://example.com/list?page=2"),
        ("", "http://example.com/list?page=1#top", "http://example.com/list?page=1"),
        ("a.png", "http://example.com", "http://example.com/a.png"),
        ("\\img\\a.png", "http://example.com/d/p", "http://example.com/img/a.png"),
        ("http:a.png", "http://example.com/d/p", "http://example.com/d/a.png"),
        ("HTTPS://Other.example/x", "http://example.com/", "https://other.example/x"),
        ("https://other.example/x", "not a url", "https://other.example/x"),
    ],
)
def test_normalize_resolves_against_base(url, base, expected):
    assert normalize(url, base) == expected


def test_normalize_drops_relative_urls_without_usable_base():
    assert normalize("a.png", "mailto:x@example.com") is None
    assert normalize("a.png", "garbage") is None
    assert normalize("javascript:go()", "http://example.com/") is None


def test_normalize_is_idempotent():
    for url in ["http://bücher.example/ä b?q=é ü#x", "http://example.com/a/../%7Eb/%zz?x='1'"]:
        once = normalize(url)
        assert normalize(once) == once


def test_normalize_never_raises_on_garbage_and_is_stable():
    alphabet = "ab:/?#[]@%!$&'()*+,;=\\ \t\n\x00é☃\ud800.-_~0123456789"
    rng = random.Random(1234)
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(30)))
        for candidate in (text, "http://" + text, "https://a.test" + text):
            result = normalize(candidate, "http://base.test/d/")
            if result is not None:
                assert result.startswith(("http://", "https://"))
                assert normalize(result) == result
    assert normalize(None) is None  # type: ignore[arg-type]
    assert normalize(b"http://example.com/") is None  # type: ignore[arg-type]


def test_check_start_url_returns_normalized():
    assert check_start_url(" https://Bücher.example:443/a b#x ") == (
        "https://xn--bcher-kva.example/a%20b"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://x", "unsupported scheme 'ftp' in 'ftp://x'"),
        ("mailto:a@example.com", "unsupported scheme 'mailto' in 'mailto:a@example.com'"),
        ("http://", "no host in 'http://'"),
        ("example.com/page", "no scheme in 'example.com/page'"),
        ("example.com:8080/page", "no scheme in 'example.com:8080/page'"),
        ("localhost:8080", "no scheme in 'localhost:8080'"),
        ("//example.com/", "no scheme in '//example.com/'"),
        ("", "empty URL"),
        ("http://example.com:70000/", "invalid port in 'http://example.com:70000/'"),
        ("http://exa mple.com/", "invalid host in 'http://exa mple.com/'"),
        ("http://[::1/", "invalid host in 'http://[::1/'"),
        ("http://256.256.256.256/", "invalid host in 'http://256.256.256.256/'"),
        ("https://a.test:x/", "invalid port in 'https://a.test:x/'"),
        ("http://a@:80/", "no host in 'http://a@:80/'"),
        ("http://a..b/", "empty or over-long label in the host of 'http://a..b/'"),
    ],
)
def test_check_start_url_errors(url, message):
    with pytest.raises(InvalidURL) as error:
        check_start_url(url)
    assert str(error.value) == message
    assert isinstance(error.value, ValueError)


def test_check_start_url_length_limit():
    ok = "http://example.com/" + "a" * (2048 - len("http://example.com/"))
    assert check_start_url(ok) == ok
    with pytest.raises(InvalidURL, match="URL longer than 2048 characters"):
        check_start_url(ok + "a")
    with pytest.raises(InvalidURL, match="URL longer than 2048 characters"):
        check_start_url("http://example.com/" + "é" * 1000)  # grows when encoded


def test_check_start_url_shortens_long_urls_in_messages():
    with pytest.raises(InvalidURL) as error:
        check_start_url("ftp://example.com/" + "x" * 500)
    assert len(str(error.value)) < 160


def test_split_url_list_whitespace_and_run_together():
    text = (
        "http://a.test/x\nhttps://b.test/y\r\n\n  http://c.test/\t"
        "http://d.test/zhttps://e.test/wHTTP://f.test/https://g.test/"
    )
    assert split_url_list(text) == [
        "http://a.test/x",
        "https://b.test/y",
        "http://c.test/",
        "http://d.test/z",
        "https://e.test/w",
        "HTTP://f.test/",
        "https://g.test/",
    ]


def test_split_url_list_keeps_order_duplicates_and_non_urls():
    text = "not-a-url http://a.test/ http://a.test/ example.com/x"
    assert split_url_list(text) == [
        "not-a-url",
        "http://a.test/",
        "http://a.test/",
        "example.com/x",
    ]
    assert split_url_list("  \n\t ") == []


def test_split_url_list_keeps_urls_in_query_values():
    assert split_url_list("http://a.test/login?next=https://a.test/home") == [
        "http://a.test/login?next=https://a.test/home"
    ]


def test_scopes_constant():
    assert SCOPES == ("host", "domain", "any")


@pytest.mark.parametrize(
    ("url", "start", "expected"),
    [
        ("http://example.com/a", "http://example.com/", True),
        ("https://example.com/a", "http://example.com/", True),
        ("http://www.example.com/a", "http://example.com/", True),
        ("http://example.com/a", "https://www.example.com/", True),
        ("http://www2.example.com/a", "http://example.com/", False),
        ("http://img.example.com/a", "http://www.example.com/", False),
        ("http://example.com:8080/a", "http://example.com/", False),
        ("http://user@example.com/a", "http://example.com/", True),
        ("http://[::1]:8080/", "http://[::1]:8080/x", True),
        ("http://[::1]/", "http://[::1]:8080/x", False),
    ],
)
def test_in_scope_host(url, start, expected):
    assert in_scope(url, start, "host") is expected


@pytest.mark.parametrize(
    ("url", "start", "expected"),
    [
        ("http://img.example.com/a", "http://www.example.com/", True),
        ("http://example.com:8080/a", "https://www.example.com/", True),
        ("http://other.com/a", "http://example.com/", False),
        ("http://shop.bbc.co.uk/", "http://www.bbc.co.uk/", True),
        ("http://www.itv.co.uk/", "http://www.bbc.co.uk/", False),
        ("http://alice.github.io/", "http://bob.github.io/", False),
        ("http://www.xn--bcher-kva.example/", "http://xn--bcher-kva.example/", True),
        ("http://10.0.0.1/", "http://10.0.0.2/", False),
        ("http://10.0.0.1:8080/", "http://10.0.0.1/", True),
        ("http://localhost:8080/", "http://localhost/", True),
        ("http://a.localhost/", "http://localhost/", False),
        ("http://[::1]/", "http://[::2]/", False),
    ],
)
def test_in_scope_domain(url, start, expected):
    assert in_scope(url, start, "domain") is expected


def test_in_scope_any():
    assert in_scope("http://other.test/", "https://example.com/", "any") is True


def test_in_scope_unknown_scope():
    with pytest.raises(ValueError, match="unknown scope 'site'"):
        in_scope("http://a.test/", "http://a.test/", "site")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("www.example.com", "example.com"),
        ("Example.COM", "example.com"),
        ("example.com.", "example.com"),
        ("a.b.example.co.uk", "example.co.uk"),
        ("co.uk", "co.uk"),
        ("foo.github.io", "foo.github.io"),
        ("www.xn--p1ai", "www.xn--p1ai"),
        ("shop.example.xn--p1ai", "example.xn--p1ai"),
        ("img.site.test", "site.test"),
        ("localhost", "localhost"),
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]", "[::1]"),
    ],
)
def test_registrable_domain(host, expected):
    assert registrable_domain(host) == expected


def test_public_suffix_list_never_touches_the_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    urls._public_suffix_list.cache_clear()
    registrable_domain.cache_clear()
    assert registrable_domain("news.example.co.uk") == "example.co.uk"


@pytest.mark.parametrize("base", [
    "http://a.test/", "http://a.test/dir/page.html", "https://a.test:8443/x/y/?q=1",
    "http://xn--bcher-kva.example/b%C3%BCcher/",
])
@pytest.mark.parametrize("ref", [
    "img.png", "dir/img.png", "/abs/img.png", "a,b.png", "x_y-z~1.png", "p(1).jpg",
    "./img.png", "../up.png", "dir/../img.png", "café.png", "a b.png", "a%20b.png",
    "?q=1", "#frag", "//cdn.test/x.png", "HTTP://B.TEST/x", "img.png?w=1", ".hidden.png",
])
def test_resolve_agrees_with_normalize(ref, base):
    assert resolve(ref, base) == normalize(ref, base)


# --- hosts the resolver cannot look up, and userinfo ---------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://a..b/",
        "http://.example.com/",
        "http://example.com../",
        "http://./",
        f"http://{'a' * 64}.example/",
        f"http://{'ü' * 60}.example/",      # its punycode label is over 63 characters
    ],
)
def test_hosts_with_empty_or_over_long_labels_are_refused(url):
    """No name server can answer for them, and getaddrinfo() raises for them
    where Twisted's resolver expects a clean "not found" (it waits forever)."""
    assert normalize(url) is None
    with pytest.raises(InvalidURL, match="empty or over-long label in the host of"):
        check_start_url(url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"http://{'a' * 63}.example/", f"http://{'a' * 63}.example/"),
        ("http://example.com./", "http://example.com./"),
        ("http://a_b.example/", "http://a_b.example/"),
    ],
)
def test_hosts_the_resolver_can_look_up_are_kept(url, expected):
    assert normalize(url) == expected


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://example.com@127.0.0.1/", "http://127.0.0.1"),
        ("http://user:pass@example.com@10.0.0.1:8080/", "http://10.0.0.1:8080"),
        ("http://a@b@c.test/", "http://c.test"),
        ("http://127.0.0.1#@example.com/", "http://127.0.0.1"),
        ("http://example.com?@127.0.0.1/", "http://example.com"),
        ("http://example.com\\@127.0.0.1/", "http://example.com"),
        ("http://[::1]@example.com/", "http://example.com"),
    ],
)
def test_the_host_is_what_follows_the_last_at_sign_as_in_the_url_standard(url, host):
    assert urls.host_key(normalize(url)) == host


# --- as browsers parse them: the URL Standard (tests/unit/test_url_wpt.py has its cases) ---


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("///example.org/path", "http://a.test/", "http://example.org/path"),
        ("/\\/\\//example.org/../path", "http://a.test/", "http://example.org/path"),
        ("https:/example.com/", "http://a.test/d/p", "https://example.com/"),
        ("https:example.com/", "http://a.test/d/p", "https://example.com/"),
        ("https:example.com/", "https://a.test/d/p", "https://a.test/d/example.com/"),
        ("http://&a:foo(b]c@d:2/", "http://a.test/", "http://d:2/"),
        ("https://user:pass[\x7f@foo/bar", "http://a.test/", "https://foo/bar"),
    ],
)
def test_links_browsers_follow(url, base, expected):
    assert normalize(url, base) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://0xffffffff", "http://255.255.255.255/"),
        ("http://192.168.257", "http://192.168.1.1/"),
        ("http://1.2.3.4./", "http://1.2.3.4/"),
        ("http://4294967295/", "http://255.255.255.255/"),
        ("http://0x7f.1:8080/", "http://127.0.0.1:8080/"),
        ("http://０Ｘｃ０．０２５０．０１", "http://192.168.0.1/"),
    ],
)
def test_ipv4_hosts_get_one_spelling(url, expected):
    """Otherwise one server has two scope, dedup and politeness keys."""
    assert normalize(url) == expected
    assert urls.host_key(expected) == urls.host_key(normalize(expected))


@pytest.mark.parametrize(
    "url", ["http://256.256.256.256", "http://1.2.3.08", "http://foo.09", "http://1.2.3.4.5",
            "http://4294967296", "http://0xffffffff1"])
def test_hosts_browsers_reject_are_rejected(url):
    assert normalize(url) is None
    with pytest.raises(InvalidURL, match="invalid host in"):
        check_start_url(url)


_BASES = [normalize(base) for base in (
    "http://a.test/", "http://a.test/dir/page.html", "https://a.test:8443/x/y/?q=1",
    "http://xn--bcher-kva.example/b%C3%BCcher/p?x=/y", "http://[::1]:8080/a/b",
    "https://192.168.1.1/a;b/c,d", "http://a.test/dir/",
)]
_REF_PIECES = st.sampled_from(
    list("aZ09_~!$&'()*+,;=@-./") + ["/", "/", "..", ".", "%2e", "?", "#", ":", "\\", " ", "é", "//"])


@settings(max_examples=2000, deadline=None, derandomize=True, database=None)
@given(st.sampled_from(_BASES), st.lists(_REF_PIECES, min_size=1, max_size=10).map("".join))
def test_the_fast_path_of_resolve_is_exactly_the_parsers_answer(base, ref):
    """resolve() joins plain paths itself; normalize() always asks ada."""
    assert resolve(ref, base) == normalize(ref, base)


def test_the_fast_path_is_taken_for_plain_paths(monkeypatch):
    """Their answer comes without the parser: the shortcut is what it is for."""
    def refuse(*args):
        raise AssertionError("the parser was asked")

    base = "http://a.test/dir/page.html?q=1"
    monkeypatch.setattr(urls.ada_url, "join_url", refuse)
    assert resolve("img/a.png", base) == "http://a.test/dir/img/a.png"
    assert resolve("/p/3.html", base) == "http://a.test/p/3.html"
    assert resolve("a,b(1)/x_y-z~1.png", base) == "http://a.test/dir/a,b(1)/x_y-z~1.png"
