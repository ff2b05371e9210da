"""
Admission control for job creation: who the client is, the limits the
configuration sets, and the answer to a refused job.  The arithmetic runs
in Redis (C{lua/admit.lua}, one atomic step), so every API process on one
Redis shares the limits.

  - Job creations: a token bucket per client (C{CLIENT_JOBS_PER_MINUTE},
    bursts of C{CLIENT_JOBS_BURST}) and one for all clients together
    (C{TOTAL_JOBS_PER_MINUTE}, C{TOTAL_JOBS_BURST}).  Refused: 429
    C{rate_limited} with C{Retry-After}.
  - Live jobs: at most C{CLIENT_LIVE_JOBS} queued or running per client.
    Refused: 429 C{too_many_jobs}, without C{Retry-After}, since nobody
    knows when a job will end.  429 rather than 409: 409 says the request
    conflicts with the state of the resource it names, which the client
    fixes by changing the request; here the client has used up a quota of
    its own and must wait (or cancel a job), which is what 429 means (RFC
    6585) and what clients and proxies already back off on.  The cap is
    read in C{admit.lua} and the job joins the set in C{create_job.lua} a
    moment later, so requests of one client arriving together may pass it
    together: never more of them than its burst lets through.
  - Pages: a budget of C{CLIENT_PAGES_PER_HOUR} per client, a bucket that
    refills continuously at that rate.  A job's C{max_pages} is taken
    from it when the job is created (a job that crawls fewer gets nothing
    back).  Refused: 429 C{page_budget} with C{Retry-After} (when enough
    will have refilled) and a message saying how many pages are left, so
    that a client may ask for fewer at once instead of waiting.  A
    C{max_pages} over the whole budget can never pass: 422.

A limit of 0 is off.  The client is the token it presented when tokens
are on (hashed: no token reaches Redis), else its address; behind a proxy
every client shares the proxy's address, so give each caller a token.
"""

import hashlib
import ipaddress
import math

from twisted.logger import Logger

from api.http import ApiError
from common.store import AdmissionLimits

log = Logger()

# Client ids carry this many hex digits of a token's SHA-256: 64 bits
# keep tokens apart and give nothing of them away.
TOKEN_ID_DIGITS = 16


def client_id(request, tokens_on):
    """
    Who is asking: C{token:<hash>} when tokens are on (the request passed
    the token check before it got here), else C{addr:<address>}.
    """
    if tokens_on:
        words = (request.getHeader(b"authorization") or b"").split()
        token = words[-1] if words else b""
        return "token:" + hashlib.sha256(token).hexdigest()[:TOKEN_ID_DIGITS]
    return "addr:" + _network(request.getClientAddress().host)


def _network(host):
    """
    An IPv4 address as it is (also when mapped into IPv6); an IPv6 client
    is its /64, which one machine is commonly given whole.
    """
    address = ipaddress.ip_address(host)
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.version == 4:
        return str(address)
    return str(ipaddress.ip_network(f"{address}/64", strict=False))


def limits(config):
    """The configuration's limits as the store takes them (rates per second)."""
    return AdmissionLimits(
        client_rate=config.client_jobs_per_minute / 60, client_burst=config.client_jobs_burst,
        total_rate=config.total_jobs_per_minute / 60, total_burst=config.total_jobs_burst,
        live_jobs=config.client_live_jobs,
        pages_rate=config.client_pages_per_hour / 3600, pages_burst=config.client_pages_per_hour)


def retry_after(wait):
    """
    Whole seconds, rounded up, at least 1.  Rounded to the microsecond
    first: a wait of 2 s computed as 2.0000000001 must say 2, not 3.
    """
    return max(1, math.ceil(round(wait, 6)))


def refusal(verdict, config, max_pages):
    """The L{ApiError} that answers a job the store refused, naming the limit."""
    if verdict.limit == "live_jobs":
        return ApiError(429, "too_many_jobs", (
            f"this client has {config.client_live_jobs} jobs queued or running, the most it "
            "may have; wait for one to finish, or cancel one"))
    seconds = retry_after(verdict.wait)
    headers = {b"retry-after": str(seconds).encode()}
    if verdict.limit == "pages":
        return ApiError(429, "page_budget", (
            f"max_pages {max_pages} is more than the {verdict.pages_left} pages this client has "
            f"left of its {config.client_pages_per_hour} an hour; ask for at most "
            f"{verdict.pages_left}, or retry in {seconds} s"), headers)
    if verdict.limit == "client_rate":
        message = (f"this client may create {config.client_jobs_per_minute} jobs a minute "
                   f"(bursts of {config.client_jobs_burst}); retry in {seconds} s")
    else:
        message = (f"the server takes {config.total_jobs_per_minute} new jobs a minute from "
                   f"all clients together; retry in {seconds} s")
    return ApiError(429, "rate_limited", message, headers)


class Admission:
    """Admits or refuses each new job, for L{api.resources.Api.submit}."""

    def __init__(self, store, config):
        self.store = store
        self.config = config
        self.limits = limits(config)
        self.on = any((config.client_jobs_per_minute, config.total_jobs_per_minute,
                       config.client_live_jobs, config.client_pages_per_hour))

    async def admit(self, request, max_pages):
        """
        Admit a job that may crawl C{max_pages} pages, or raise the
        L{ApiError} that refuses it.

        @return: the client id to record the job under (L{JobStore.create}).
        """
        client = client_id(request, bool(self.config.api_token))
        budget = self.config.client_pages_per_hour
        if budget and max_pages > budget:
            raise ApiError(422, "max_pages_over_budget", (
                f"max_pages {max_pages} is more than this client's budget of {budget} pages "
                "an hour"))
        if self.on:
            verdict = await self.store.admit(client, max_pages, self.limits)
            if not verdict.admitted:
                log.debug("refused a job of {client}: {limit}", client=client, limit=verdict.limit)
                raise refusal(verdict, self.config, max_pages)
        return client
