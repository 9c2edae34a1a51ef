"""`FailurePolicy`, where the package keeps it."""

from .flow import FailurePolicy

__all__ = ["FailurePolicy"]
