"""The ADLS Gen2 connector: `client(profile)` (a context manager) over the host's client."""

from aw.adls2 import *  # noqa: F401,F403 - the connector's whole API
from aw.adls2 import client  # noqa: F401
