"""The `pms-bridge` command line: migrate, run, demo, snapshot, status, capture, ..."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import sys
import urllib.parse
from collections.abc import Callable, Coroutine
from typing import Any

import psycopg
import redis.exceptions

from bridge.config import ConfigError, Settings, load_settings, require_database
from bridge.db import first_line
from bridge.embedded import EmbeddedError
from bridge.wiring.commands import COMMAND_MODULES

Handler = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(
        overrides={
            "database_url": getattr(args, "database_url", None),
            "redis_url": getattr(args, "redis_url", None),
            "capture": getattr(args, "capture", None),
            "api_host": getattr(args, "host", None),
            "api_port": getattr(args, "port", None),
        }
    )


async def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.capture import install as capture
    from bridge.capture import slot
    from bridge.db import connect
    from bridge.migrate import migrate

    logical = settings.capture == "logical"
    if logical and args.drop_logical:
        raise ConfigError(
            "--drop-logical drops the logical capture's slot and publication: "
            "it goes with --capture trigger"
        )
    url = require_database(settings)
    tables = len(settings.watched_tables)
    left: list[str] = []
    async with await connect(url) as conn:
        # Logical capture needs no triggers: its capture is the publication (and the
        # REPLICA IDENTITY its projector needs), set only when that mode is chosen.
        applied = await migrate(conn, settings.watched_tables, install_capture=not logical)
        done = [f"applied {', '.join(applied) or 'nothing pending'}"]
        if logical:
            # Triggers left from trigger mode would fill an outbox nothing reads any more.
            triggered = sorted(await capture.installed(conn))
            async with conn.transaction():
                await capture.remove(conn, triggered)
            if triggered:
                done.append(f"capture triggers removed from {', '.join(triggered)}")
        else:
            done.append(f"capture triggers on {tables} tables")
            left = await slot.left_in_place(conn, settings.slot_name, settings.publication_name)
    if logical:
        # Autocommit: one table's REPLICA IDENTITY per transaction (see migration 030).
        async with await connect(url, autocommit=True) as conn:
            await slot.prepare(conn, settings.publication_name, settings.watched_tables)
        done.append(f"publication {settings.publication_name} on {tables} tables")
    elif args.drop_logical:
        dropped = await slot.drop(url, settings.slot_name, settings.publication_name)
        gone = [
            f"slot {settings.slot_name}" if dropped.slot else "",
            f"publication {settings.publication_name}" if dropped.publication else "",
        ]
        done.append(f"dropped {' and '.join(filter(None, gone)) or 'no logical slot'}")
    elif left:
        # Left alone unless asked: a slot keeps WAL on the server until it is dropped.
        done.append(
            f"{' and '.join(left)} of logical capture left in place (the slot keeps WAL): "
            "drop them with --drop-logical"
        )
    print(f"migrate: {'; '.join(done)}")
    return 0


async def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.wiring.process import run

    if not args.no_api and not settings.jwt_secret:
        raise ConfigError(
            "BRIDGE_JWT_SECRET is not set; the API signs its access tokens with it "
            "(e.g. export BRIDGE_JWT_SECRET=$(openssl rand -hex 32))"
        )
    if args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: give 1 or more API processes")
    if args.workers > 1 and args.no_api:
        raise ConfigError("--workers runs API processes: drop --no-api or --workers")
    if args.workers > 1 and not settings.redis_url:
        raise ConfigError(
            "--workers N needs REDIS_URL: the API processes share the cache and rate limits"
        )
    await run(
        settings,
        run_bridge=not args.api_only,
        run_api=not args.no_api,
        workers=args.workers,
        reuse_port=args.reuse_port,
        on_listening=_say_where,
    )
    return 0


def _say_where(url: str) -> None:
    print(
        f"pms-bridge: listening on {url} (API under /api/booking-engine; /metrics, /dashboard, "
        "/health/ready)",
        file=sys.stderr,
        flush=True,
    )


async def cmd_snapshot(args: argparse.Namespace, settings: Settings) -> int:
    from bridge import shared_version
    from bridge.cache import open_shared_cache
    from bridge.db import connect
    from bridge.migrate import require_migrated
    from bridge.service import horizon
    from bridge.snapshot import rebuild_availability

    cache = open_shared_cache(
        settings,
        "set REDIS_URL to the Redis `run` uses (without one, `run` builds its cache itself)",
    )
    try:
        async with await connect(require_database(settings)) as conn:
            await require_migrated(conn)
            written = await rebuild_availability(conn, cache, horizon(settings))
        # Every hotel's memoized answers, in every API process.
        await shared_version.publish(settings.redis_url, settings.redis_prefix, [], every=True)
    finally:
        await cache.close()
    print(f"snapshot: wrote {written} availability entries")
    return 0


async def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.status import collect_status

    report = await collect_status(settings)
    print(report.render())
    return 0


async def cmd_capture(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.capture import install as capture
    from bridge.db import connect

    async with await connect(require_database(settings)) as conn:
        if args.action == "install":
            await capture.install(conn, settings.watched_tables)
        else:
            await capture.remove(conn, settings.watched_tables)
        await conn.commit()
        tables = sorted(await capture.installed(conn))
    print(f"capture {args.action}: triggers now on {', '.join(tables) or 'no tables'}")
    return 0


async def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.wiring.demo import run_demo

    return await run_demo(args, settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pms-bridge", description=__doc__)
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {importlib.metadata.version('pms-bridge')}",
    )
    parser.add_argument("--database-url", help="PMS database (default: $DATABASE_URL)")
    parser.add_argument("--redis-url", help="Redis for the caches (default: $REDIS_URL)")
    parser.add_argument("--capture", choices=["trigger", "logical"], help="$BRIDGE_CAPTURE")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    migrate = sub.add_parser(
        "migrate",
        help="apply pending migrations and install capture",
        description="Apply the bridge's pending migrations and changed function files in one "
        "transaction (a second run changes nothing), then set up capture for BRIDGE_CAPTURE: "
        "the capture triggers (trigger), or the publication and replica identity (logical), "
        "which removes the capture triggers. Switching to trigger leaves the logical slot and "
        "publication alone unless --drop-logical is given.",
    )
    migrate.add_argument(
        "--drop-logical",
        action="store_true",
        help="with trigger capture: drop the logical capture's slot and publication",
    )
    migrate.set_defaults(handler=cmd_migrate)
    run = sub.add_parser(
        "run",
        help="bridge + API + metrics in one process",
        description="Run the bridge (capture, caches, webhook delivery), the booking-engine "
        "API, /metrics and /dashboard in one process until SIGTERM or Ctrl-C; SIGTERM finishes "
        "the batch in hand. A database not reachable yet is waited for.",
    )
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--no-api", action="store_true", help="only the bridge")
    mode.add_argument("--api-only", action="store_true", help="only the API")
    run.add_argument("--host", help="$API_HOST (127.0.0.1)")
    run.add_argument("--port", type=int, help="$API_PORT (8000)")
    run.add_argument(
        "--workers",
        type=int,
        default=1,
        help="API processes on the port (1); more than one needs REDIS_URL, and the others"
        " run as `run --api-only`",
    )
    # How `--workers` starts the other API processes: listening beside this one.
    run.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    run.set_defaults(handler=cmd_run)

    demo = sub.add_parser(
        "demo",
        help="embedded PostgreSQL, seed data, workload, live figures",
        description="The product on embedded defaults: an embedded PostgreSQL with a demo PMS "
        "and seed data, the bridge, the API and a booking workload, with a live line of "
        "figures and a summary line at the end. Needs the demo extra "
        "(pip install 'pms-bridge[demo]').",
    )
    demo.add_argument("--duration", type=float, default=None, help="seconds (default: Ctrl-C)")
    demo.add_argument("--port", type=int, default=None, help="API port (8000)")
    demo.add_argument("--host", default=None)
    demo.add_argument("--rate", type=float, default=200.0, help="workload transactions/s")
    demo.add_argument("--hotels", type=int, default=3)
    demo.add_argument("--rooms-per-hotel", type=int, default=100)
    demo.add_argument("--data-dir", default=None, help="where the embedded cluster lives")
    demo.add_argument("--quiet", action="store_true", help="no live progress line")
    demo.set_defaults(handler=cmd_demo)

    snapshot = sub.add_parser(
        "snapshot",
        help="rebuild the availability cache",
        description="Rebuild the availability cache in Redis (REDIS_URL) from the PMS tables. "
        "Every entry is recomputed, so it is safe to run at any time.",
    )
    snapshot.set_defaults(handler=cmd_snapshot)
    status = sub.add_parser(
        "status",
        help="capture lag, checkpoint, parked changes",
        description="Print the consumer's checkpoint, the changes waiting and the capture lag, "
        "and the parked changes (and the slot's lag in logical mode), read from the database.",
    )
    status.set_defaults(handler=cmd_status)
    capture = sub.add_parser(
        "capture",
        help="install or remove the capture triggers",
        description="Install or remove the capture triggers on the watched tables' partition "
        "roots (BRIDGE_WATCHED_TABLES); both are idempotent.",
    )
    capture.add_argument("action", choices=["install", "remove"])
    capture.set_defaults(handler=cmd_capture)

    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it exists: the API's per-request CPU is mostly event-loop and parsing."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _without_password(url: str) -> str:
    """A URL fit for an error line: its password, if any, left out."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urllib.parse.urlunsplit(parts._replace(netloc=user + host))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler: Handler = args.handler
    redis_url: str | None = None
    try:
        settings = _settings(args)
        redis_url = settings.redis_url
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            return runner.run(handler(args, settings))
    except ConfigError as exc:
        print(f"pms-bridge: error: {exc}", file=sys.stderr)
        return 2
    except psycopg.OperationalError as exc:
        print(f"pms-bridge: error: cannot reach the database: {first_line(exc)}", file=sys.stderr)
        return 2
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        where = _without_password(redis_url or "")
        print(
            f"pms-bridge: error: cannot reach Redis at {where}: {first_line(exc)}", file=sys.stderr
        )
        return 2
    except EmbeddedError as exc:
        print(f"pms-bridge: error: {first_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
