"""The embedded market: a labeling server that hands out the open local batches' HITs.

Labelers sign in with a name, work each HIT on the same page MTurk workers see, and submit
through the JSON API that the simulated crowd uses too. See ``docs/labeling.md``.
"""

from mturk.local.app import create_app
from mturk.local.client import MarketClient, MarketError
from mturk.local.market import Handout, LocalMarket, Refused, Submitted
from mturk.local.server import RunningServer, check_bind, serve, start_server
from mturk.local.status import MarketStatus, market_status

__all__ = [
    "Handout",
    "LocalMarket",
    "MarketClient",
    "MarketError",
    "MarketStatus",
    "Refused",
    "RunningServer",
    "Submitted",
    "check_bind",
    "create_app",
    "market_status",
    "serve",
    "start_server",
]
