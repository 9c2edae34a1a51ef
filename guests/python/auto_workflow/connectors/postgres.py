"""The Postgres connector: `client(profile)` (a context manager) over the host's pool."""

from aw.postgres import *  # noqa: F401,F403 - the connector's whole API
from aw.postgres import client  # noqa: F401
