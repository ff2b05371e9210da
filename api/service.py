"""The API process's service tree: the HTTP site and the dispatcher."""

import os
import socket

from twisted.application import strports
from api import webhooks
from api.dispatch import Dispatcher
from api.events_feed import EventsFeed
from api.metrics import Metrics
from api.resources import Api, Root
from api.site import ApiSite
from common import store as job_store
from common.lifecycle import EventStore
from common.process import Sequence


def make_service(reactor, config, fatal):
    """
    Redis first, then the dispatcher (it binds the ZeroMQ ports), the web
    site last, so that nothing is served before tasks can flow.

    C{fatal} is the process's L{common.process.Fatal}: the dispatcher hands
    it a dead dispatch round.  A port that cannot be bound (HTTP or ZeroMQ)
    raises from C{startService}, strports' service included (it raises its
    first listen error rather than only logging it), and
    L{common.process.run} hands that to C{fatal} too: the process exits 1
    with the address in the message instead of staying up half alive.
    """
    redis = job_store.connect(config.redis_url, poolsize=8)
    store = job_store.JobStore(redis, reactor, config.job_ttl_seconds)
    metrics = Metrics()
    dispatcher = Dispatcher(reactor, config, store, metrics, fatal=fatal)
    site = ApiSite(Root(Api(store, dispatcher, config, metrics)), config, reactor)
    interface = config.api_host.replace(":", r"\:")
    web = strports.service(f"tcp:{config.api_port}:interface={interface}", site, reactor)
    top = Sequence()
    job_store.ConnectionService(redis).setServiceParent(top)
    dispatcher.setServiceParent(top)
    # Job lifecycle events: logged, and sent to the jobs' webhooks.
    events = EventStore(redis, reactor, config.job_ttl_seconds)
    EventsFeed(reactor, events, f"{socket.gethostname()}-{os.getpid()}", fatal).setServiceParent(top)
    webhooks.WebhookSender(reactor, events, webhooks.make_client(reactor, config), config,
                           fatal).setServiceParent(top)
    web.setServiceParent(top)
    return top
