"""`pms-bridge demo` as a user runs it, on a terminal: it says where its database is, hands out
a key with a call that works, and its summary starts a line of its own."""

from __future__ import annotations

import os
import pty
import re
import shlex
import subprocess
import sys
import threading
import time

import httpx

from bridge.embedded import free_port

# Bounds on a hang, not measures: an embedded cluster, its seed and a 10 s workload.
START_LIMIT_S = 240
EXIT_LIMIT_S = 240


class Terminal:
    """The demo's stdout and stderr on one pseudo-terminal, as a shell would give them."""

    def __init__(self, *args: str) -> None:
        self._master, slave = pty.openpty()
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", *args], stdout=slave, stderr=slave, env=env
        )
        os.close(slave)
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 4096)
            except OSError:  # the last writer closed the terminal
                return
            if not chunk:
                return
            self._chunks.append(chunk)

    @property
    def text(self) -> str:
        return b"".join(self._chunks).decode(errors="replace")

    def wait_for(self, pattern: str, limit_s: float) -> re.Match[str]:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            found = re.search(pattern, self.text)
            if found:
                return found
            assert self.proc.poll() is None, self.text
            time.sleep(0.1)
        raise AssertionError(f"{pattern!r} never printed:\n{self.text}")

    def finish(self, limit_s: float) -> int:
        code = self.proc.wait(timeout=limit_s)
        self._reader.join(timeout=10)
        os.close(self._master)
        return code


def test_demo_prints_its_database_a_key_and_a_working_curl_line() -> None:
    port = free_port()
    small = ("--hotels", "2", "--rooms-per-hotel", "20", "--rate", "20")
    term = Terminal("demo", "--duration", "10", "--port", str(port), *small)
    try:
        curl = term.wait_for(r"demo: try: (curl [^\r\n]+)", START_LIMIT_S)[1]
        key = term.wait_for(r"demo: API key \(hotel 1, scope book\): (pmsb_\S+)", 1)[1]
        database = term.wait_for(r"demo: DATABASE_URL=(postgresql://\S+)", 1)[1]
        words = shlex.split(curl)
        assert words[:3] == ["curl", "-H", f"Authorization: Bearer {key}"]
        url = words[3]
        assert url.startswith(f"http://127.0.0.1:{port}/api/booking-engine/availability/1?")
        # The printed line, as a user would paste it, while the demo runs.
        reply = httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        assert reply.status_code == 200, reply.text
        assert reply.json()["hotel_id"] == 1
        assert database.endswith("/pms")
    finally:
        code = term.finish(EXIT_LIMIT_S)
    assert code == 0, term.text
    # The live line ends before the summary: on the terminal, the summary begins a line.
    summary = re.search(r"(^|\n)summary: changes=\d+ applied=\d+ lost=0 duplicated=0 ", term.text)
    assert summary is not None, term.text
