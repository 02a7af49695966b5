"""The receiver of docs/alerts.md verifies what a real server sends, and refuses a forgery."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.alerting import fast_service, make_webhook
from tests.conftest import new_tenant
from tests.ports import free_port
from tests.receivers import wait_until

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "webhook_receiver.py"


def test_the_documented_receiver_verifies_a_real_delivery(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    port = free_port()
    output = tmp_path / "receiver.out"
    with fast_service(new_database()) as service:
        tenant = new_tenant(service)
        hook = make_webhook(tenant, f"http://127.0.0.1:{port}/")
        env = {**os.environ, "WEBHOOK_SECRET": hook["secret"], "PORT": str(port)}
        with output.open("w") as sink:
            receiver = subprocess.Popen([sys.executable, str(EXAMPLE)], env=env, stdout=sink)
        try:
            sent = tenant.reader.post(f"/api/v1/webhooks/{hook['id']}/test").json()["messageId"]
            wait_until(lambda: sent in output.read_text(), what="the receiver's line")
            forged = httpx.post(
                f"http://127.0.0.1:{port}/",
                content=b"{}",
                headers={
                    "webhook-id": "msg_x",
                    "webhook-timestamp": "1",
                    "webhook-signature": "v1,AAAA",
                },
            )
            assert forged.status_code == 400
        finally:
            receiver.terminate()
            receiver.wait(timeout=10)
    lines = output.read_text().splitlines()
    assert lines[0].startswith(f"verified {sent} ") and '"type":"webhook.test"' in lines[0]
    assert lines[1].startswith("refused: The message timestamp is too old")
