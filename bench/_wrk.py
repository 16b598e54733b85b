"""wrk as the API benchmark's load generator: written in C, so the server keeps the CPU."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

import msgspec

MARK = "WRK-RESULT "

# Requests are built in Python and cycled by each connection in turn; `response` counts status
# codes per thread (wrk itself only counts "non-2xx"), and `done` sums them and prints one line.
SCRIPT = """
local requests = {}
local next_request = 1
counts = {}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for i, raw in ipairs(RAW) do requests[i] = raw end
end

function request()
  local raw = requests[next_request]
  next_request = next_request % #requests + 1
  return raw
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("counts")) do
      total[tostring(status)] = (total[tostring(status)] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(total) do table.insert(parts, string.format('"%s": %d', status, n)) end
  io.write(string.format(
    '%s{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "mean_us": %.1f, ' ..
    '"socket_errors": %d, "statuses": {%s}}\\n',
    "MARK", summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), latency.mean,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    table.concat(parts, ", ")))
end
""".replace("MARK", MARK)


class WrkResult(msgspec.Struct, frozen=True):
    requests: int
    duration_us: int
    p50_us: int
    p99_us: int
    mean_us: float
    socket_errors: int
    statuses: dict[str, int]

    @property
    def throughput(self) -> float:
        return self.requests / (self.duration_us / 1e6) if self.duration_us else 0.0

    @property
    def status_counts(self) -> Counter[int]:
        return Counter({int(code): n for code, n in self.statuses.items()})


def available() -> bool:
    return shutil.which("wrk") is not None


def _lua_string(raw: bytes) -> str:
    """A Lua long string cannot hold arbitrary bytes safely; a quoted one with escapes can."""
    escaped = (f"\\{b:03d}" if b < 32 or b in (34, 92) or b > 126 else chr(b) for b in raw)
    return '"' + "".join(escaped) + '"'


def run(
    port: int, connections: int, seconds: float, raws: list[bytes], *, threads: int = 1
) -> WrkResult:
    """Closed loop: `connections` keep-alive connections, each sending its next request as
    soon as the previous answer arrived, for `seconds`."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write("RAW = {" + ",\n".join(_lua_string(r) for r in raws) + "}\n" + SCRIPT)
        script = Path(handle.name)
    try:
        out = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{seconds:.0f}s",
                "--timeout",
                "10s",
                "-s",
                str(script),
                f"http://127.0.0.1:{port}/",
            ],
            check=False,
            capture_output=True,
            text=True,
        )
    finally:
        script.unlink(missing_ok=True)
    for line in out.stdout.splitlines():
        if line.startswith(MARK):
            return msgspec.json.decode(line[len(MARK) :], type=WrkResult)
    raise RuntimeError(f"wrk printed no result: {out.stdout}\n{out.stderr}")
