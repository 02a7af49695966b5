"""`creditmeter serve` as a real process, for tests that kill, restart or multiply it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.ports import free_port


@dataclass
class ServerProcess:
    """A server on a fixed port and database, which can be killed and started again."""

    database_url: str
    port: int = field(default_factory=free_port)
    log: Path | None = None
    settings: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    _temporary_log: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("CREDITMETER_") or k == "CREDITMETER_SECRET_KEY"
        }
        env["CREDITMETER_EXPORT_RATE_LIMIT"] = "0"
        env.update({f"CREDITMETER_{k.upper()}": v for k, v in self.settings.items()})
        if self.log is None:
            # Kept so that a server that fails to start can say why.
            self.log = Path(tempfile.mkstemp(prefix="creditmeter-serve-", suffix=".log")[1])
            self._temporary_log = True
        output = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "creditmeter", "serve", "--port", str(self.port),
             "--database-url", self.database_url],
            env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 30) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                said = self.log.read_text(errors="replace")[-3000:] if self.log else ""
                raise AssertionError(
                    f"the server exited with {self.process.returncode}; its output:\n{said}"
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError("the server did not start")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no flush, as in a crash."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._temporary_log and self.log is not None:
            self.log.unlink(missing_ok=True)
            self.log, self._temporary_log = None, False


def start_together(servers: list[ServerProcess]) -> None:
    """Start every server at the same moment (on one database), then wait until each answers."""
    starting = [threading.Thread(target=server.start) for server in servers]
    for thread in starting:
        thread.start()
    for thread in starting:
        thread.join()
    for server in servers:
        server.wait_healthy()
