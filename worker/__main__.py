"""C{python -m worker}: one crawl worker, configured from the environment."""

from functools import partial

from twisted.application.service import Service
from twisted.internet.threads import deferToThreadPool

from common import store as job_store
from common.process import Sequence, run
from worker.crawl import Crawler
from worker.fetch import Fetcher, make_client
from worker.parsing import ParserPool
from worker.robots import PoolRobots
from worker.service import WorkerService
from worker.sitemaps import SitemapReader


class ClientService(Service):
    """Owns the HTTP client: hangs up its kept-alive connections on stop,
    after the worker has drained."""

    def __init__(self, client):
        self.client = client

    def stopService(self):
        super().stopService()
        return self.client.close()


def make_service(reactor, config, fatal):
    """
    The worker's service tree, started in this order and stopped in
    reverse: Redis, the HTTP client, the parser processes, the worker
    itself (which drains through all of them).
    """
    redis = job_store.connect(config.redis_url, poolsize=4)
    store = job_store.JobStore(redis, reactor)
    client = make_client(reactor, config)
    fetcher = Fetcher(client, reactor, config)
    parser = ParserPool(reactor, config.parse_processes, config.parse_timeout,
                        config.max_urls_per_page)
    robots = PoolRobots(store, fetcher, config, reactor)
    sitemaps = SitemapReader(fetcher, store, reactor, config,
                             partial(deferToThreadPool, reactor, reactor.getThreadPool()))
    crawler = Crawler(store, fetcher, parser, robots, sitemaps, config, reactor)
    top = Sequence()
    job_store.ConnectionService(redis).setServiceParent(top)
    ClientService(client).setServiceParent(top)
    parser.setServiceParent(top)
    WorkerService(reactor, config, store, crawler, fatal).setServiceParent(top)
    return top


if __name__ == "__main__":
    run("worker", make_service)
