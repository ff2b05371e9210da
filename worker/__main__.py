"""C{python -m worker}: one crawl worker, configured from the environment."""

from common import store as job_store
from common.process import Sequence, run
from worker.fetch import Fetcher
from worker.robots import Robots
from worker.service import WorkerService


def make_service(reactor, config):
    redis = job_store.connect(config.redis_url, poolsize=4)
    store = job_store.JobStore(redis, reactor)
    fetcher = Fetcher(reactor, config)
    robots = Robots(fetcher, config.crawl_user_agent, reactor) if config.obey_robots else None
    top = Sequence()
    job_store.ConnectionService(redis).setServiceParent(top)
    WorkerService(reactor, config, store, fetcher, robots).setServiceParent(top)
    return top


if __name__ == "__main__":
    run("worker", make_service)
