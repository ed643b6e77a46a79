"""The embedded market: a labeling server that hands out the open local batches' HITs.

Labelers sign in with a name (claimed by its first sign-in, proven by its key after), work
each HIT on the same page MTurk workers see, and submit through the JSON API that the simulated
crowd uses too. See ``docs/labeling.md``.
"""

from crowd.local.app import create_app
from crowd.local.client import MarketClient, MarketError
from crowd.local.codes import ServerCodes, server_codes
from crowd.local.connections import ServerLimits
from crowd.local.guard import ServerPolicy
from crowd.local.labelers import invite
from crowd.local.market import Handout, LocalMarket, Refused, Submitted
from crowd.local.server import (
    RunningServer,
    ServerOptions,
    options_from_settings,
    serve,
    start_server,
)
from crowd.local.status import MarketStatus, market_status

__all__ = [
    "Handout",
    "LocalMarket",
    "MarketClient",
    "MarketError",
    "MarketStatus",
    "Refused",
    "RunningServer",
    "ServerCodes",
    "ServerLimits",
    "ServerOptions",
    "ServerPolicy",
    "Submitted",
    "create_app",
    "invite",
    "market_status",
    "options_from_settings",
    "serve",
    "server_codes",
    "start_server",
]
