"""Errors a user can act on.

Every error here is shown by the CLI as one sentence (no traceback) and exits with status 2
(usage/configuration) or 1 (a failure while working). Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations


class DDError(Exception):
    """Base class: the message is one sentence that says what is wrong and what to do."""

    exit_code = 1


class ConfigError(DDError):
    """The run cannot work as asked (unknown plugin, bad option, impossible stage order).

    Raised before any compute starts.
    """

    exit_code = 2


class DataError(DDError):
    """A dataset or artifact on disk is missing, corrupt or not what it claims to be."""


class PluginError(DDError):
    """A plugin failed in a way it could explain; the CLI prefixes the plugin's name."""

    def __init__(self, plugin: str, message: str):
        self.plugin, self.detail = plugin, message
        super().__init__(f"plugin {plugin!r}: {message}")
