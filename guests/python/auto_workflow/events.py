"""`subscribe(callback)`: the package's event hook. In the sandbox the task events are the
host's (`aw-run --events FILE` writes them as JSON Lines); a subscriber here receives the
events of the instance it runs in: `flow_started` and `flow_completed` around a flow's run."""

_subscribers = []


def subscribe(callback):
    """Calls `callback(name, payload)` for this instance's events."""
    _subscribers.append(callback)
    return callback


def emit(name, payload):
    for callback in list(_subscribers):
        try:
            callback(name, payload)
        except Exception:  # noqa: BLE001 - a subscriber's failure is not the flow's
            pass
