"""`pms-bridge slot drop`: removes the logical capture's replication slot and publication."""

from __future__ import annotations

import argparse
from typing import Any

from bridge.config import Settings, require_database


async def cmd_slot_drop(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.capture.slot import drop

    dropped = await drop(require_database(settings), settings.slot_name, settings.publication_name)
    slot = "dropped" if dropped.slot else "was absent"
    publication = "dropped" if dropped.publication else "was absent"
    print(
        f"slot drop: slot {settings.slot_name} {slot}, "
        f"publication {settings.publication_name} {publication}"
    )
    return 0


def register(sub: Any) -> None:
    slot = sub.add_parser(
        "slot",
        help="the logical capture's replication slot",
        description="The logical capture's replication slot and publication "
        "(BRIDGE_SLOT, BRIDGE_PUBLICATION).",
    )
    actions = slot.add_subparsers(dest="slot_action", required=True, metavar="ACTION")
    drop = actions.add_parser(
        "drop",
        help="remove the slot and publication (stop the bridge first; $BRIDGE_SLOT)",
        description="Drop the replication slot and the publication, so PostgreSQL stops "
        "keeping WAL for them. Stop the bridge first.",
    )
    drop.set_defaults(handler=cmd_slot_drop)
