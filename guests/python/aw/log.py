"""Log lines into the host's log, tagged with the component (secrets are scrubbed)."""

from wit_world.imports import log as _log

_L = _log.Level


def _emit(level, message, args):
    _log.log(level, (message % args) if args else str(message))


def trace(message, *args):
    _emit(_L.TRACE, message, args)


def debug(message, *args):
    _emit(_L.DEBUG, message, args)


def info(message, *args):
    _emit(_L.INFO, message, args)


def warn(message, *args):
    _emit(_L.WARN, message, args)


warning = warn


def error(message, *args):
    _emit(_L.ERROR, message, args)
