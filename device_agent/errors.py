"""The agent's exception hierarchy: one root, so the servicer maps every failure in one place.

Each error the agent raises on purpose derives from :class:`DeviceAgentError`; the servicer turns
them into gRPC status codes (``server.py``) and the worker into a failed cell naming its phase.
"""

from __future__ import annotations


class DeviceAgentError(Exception):
    """Root of every error the agent raises on purpose."""


class InvalidRequest(DeviceAgentError, ValueError):
    """A request the agent refuses as malformed (impossible settings, unknown backend or preset)."""


class WireError(DeviceAgentError):
    """A message and its Python type disagree: a field one side has and the other lacks."""
