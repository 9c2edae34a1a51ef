"""The connector exception classes, where the package keeps them."""

from aw.errors import *  # noqa: F401,F403
