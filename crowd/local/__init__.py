"""The embedded market: a labeling server that hands out the open local batches' HITs.

Labelers sign in with a name, work each HIT on the same page MTurk workers see, and submit
through the JSON API that the simulated crowd uses too. See ``docs/labeling.md``.
"""

from crowd.local.app import create_app
from crowd.local.client import MarketClient, MarketError
from crowd.local.market import Handout, LocalMarket, Refused, Submitted
from crowd.local.server import RunningServer, check_bind, serve, start_server
from crowd.local.status import MarketStatus, market_status

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
