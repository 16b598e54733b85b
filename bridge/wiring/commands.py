"""The subcommand modules the CLI registers besides its own: the bridge's and the API's."""

from __future__ import annotations

from types import ModuleType

from api.commands import keys
from bridge.commands import cache, parked, reconcile, slot, sync, webhook

# In the order `pms-bridge --help` lists them; each module has register(subparsers).
COMMAND_MODULES: tuple[ModuleType, ...] = (keys, slot, cache, sync, reconcile, parked, webhook)
