"""Rewrite the generated regions of the docs from the real commands (`make docs` runs it).

A region is the lines between two markers in a Markdown file:

    <!-- generated: WHAT -->
    ...
    <!-- end generated -->

and WHAT says what fills it:

- ``creditmeter ... --help``: that command's help, as an 80-column terminal
  without colour shows it;
- ``creditmeter demo``: what ``creditmeter demo`` prints;
- ``demo session``: a console session against the demo. The ``$`` lines of
  the region are the source: each command runs in bash, against a server
  holding the demo built on a fixed day, and its output replaces the lines
  below it. The sessions run in one directory, holding the demo's database
  and a copy of ``docs/examples/`` (shown as ``DOCUMENTED_DIRECTORY``);
- ``alerts session``: a demo session whose ids (``alr_``, ``whk_``, ``msg_``),
  webhook secrets and instants, new on every run, are shown fixed
  (``ALERT_PLACEHOLDERS``);
- ``python session``: the same for the ``>>>`` lines of a Python session,
  run in one interpreter with ``$CREDITMETER_URL`` and ``$CREDITMETER_API_KEY``
  set for the demo.

The demo is built as on ``DEMO_NOW`` so that its numbers do not change from
day to day. What would still change from run to run is shown fixed: the
secrets as ``PERSONAL_KEY`` and ``SERVICE_TOKEN``, an answer's ``Date`` header
and an audit entry's ``voidedAt`` as of ``DEMO_NOW``, its request id as a phrase,
the demo token's id as an example. Commands keep the address
``http://127.0.0.1:8000`` while they talk to a server on a free port.
``tests/test_docs.py`` fails when a region differs from what this writes.

    python scripts/gen_docs.py          # rewrite the files
    python scripts/gen_docs.py --check  # list the stale files, exit 1 if any
"""

from __future__ import annotations

import io
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import httpx

from creditmeter.cli.common import opened_store
from creditmeter.cli.server import demo_banner
from creditmeter.demo import build_demo

ROOT = Path(__file__).resolve().parent.parent
FILES = ("README.md", *sorted(str(path.relative_to(ROOT)) for path in ROOT.glob("docs/*.md")))
BIN = Path(sys.executable).parent
#: The moment the documented demo is built at: its last day is 2026-11-25.
DEMO_NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
DOCUMENTED_BASE = "http://127.0.0.1:8000"
PERSONAL_KEY = "cmk_EXAMPLE-personal-key-the-demo-printed"
SERVICE_TOKEN = "cmt_EXAMPLE-service-token-the-demo-printed"
#: Where the documented sessions seem to run (they run in a scratch directory).
DOCUMENTED_DIRECTORY = "/home/you/creditmeter"
#: Files the sessions read, copied into their directory (``usage.jsonl``, …).
EXAMPLES = ROOT / "docs" / "examples"
#: What a terminal looks like to the commands: fixed width, no colour.
TERMINAL = {"COLUMNS": "80", "LINES": "40", "NO_COLOR": "1", "TERM": "dumb"}

_REGION = re.compile(
    r"^<!-- generated: (?P<what>.+?) -->\n(?P<body>.*?)^<!-- end generated -->$",
    re.M | re.S,
)
_DATE_HEADER = re.compile(r"^date: .* GMT$", re.M | re.I)
_REQUEST_ID_HEADER = re.compile(r"^x-request-id: \S+$", re.M | re.I)
#: A void's instant and the demo token's id, in an audit entry: fixed as of DEMO_NOW.
_VOIDED_AT = re.compile(r'("voidedAt": ?")[^"]+"')
_TOKEN_ID = re.compile(r'("tokenId": ?")tok_[0-9a-f]+"')
_SEPARATOR = "\x1e--creditmeter-docs--\x1e"
#: What an alerts session shows in place of what changes from run to run.
ALERT_PLACEHOLDERS = (
    (re.compile(r"whsec_[A-Za-z0-9+/]+=*"), "whsec_EXAMPLE-secret-shown-once"),
    (re.compile(r"\b(alr|whk|msg)_[0-9a-f]{16,24}\b"), r"\1_EXAMPLE"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z"), "2026-11-25T15:00:00Z"),
    (
        re.compile(r'("periodStart":\s*")[^"]+(",\s*"periodEnd":\s*")[^"]+"'),
        r'\g<1>2026-11-25T00:00:00+00:00\g<2>2026-11-26T00:00:00+00:00"',
    ),
    (re.compile(r'"durationMs":\d+'), '"durationMs":4'),
)


@dataclass
class Demo:
    """The demo, served: where, and what ``creditmeter demo`` printed for it."""

    url: str
    banner: str
    personal_key: str
    ingest_token: str

    def placeholders(self, text: str) -> str:
        """``text`` as the docs show it: secrets, changing headers and the address fixed."""
        text = text.replace(self.personal_key, PERSONAL_KEY)
        text = text.replace(self.ingest_token, SERVICE_TOKEN)
        text = _DATE_HEADER.sub(f"date: {format_datetime(DEMO_NOW, usegmt=True)}", text)
        text = _REQUEST_ID_HEADER.sub("x-request-id: (a new one for each request)", text)
        text = _VOIDED_AT.sub(rf'\g<1>{DEMO_NOW:%Y-%m-%dT%H:%M:%S}.000000Z"', text)
        text = _TOKEN_ID.sub(r'\g<1>tok_EXAMPLE-the-demo-token"', text)
        return text.replace(self.url, DOCUMENTED_BASE)


def _environment(**extra: str) -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CREDITMETER_") and key not in ("FORCE_COLOR", "CLICOLOR_FORCE")
    }
    environment["PATH"] = f"{BIN}{os.pathsep}{environment.get('PATH', '')}"
    return {**environment, **TERMINAL, **extra}


def help_text(command: str) -> str:
    """The output of ``command`` (``creditmeter ... --help``), run for real."""
    args = command.split()
    answer = subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        env=_environment(),
        check=True,
        timeout=120,
    )
    return answer.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served_demo(directory: Path) -> Iterator[Demo]:
    """The demo built as on ``DEMO_NOW`` in ``directory``, served by ``creditmeter serve``."""
    database = directory / "creditmeter-demo.db"
    with opened_store(f"sqlite:///{database}") as store:
        info = build_demo(store, now=DEMO_NOW)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(BIN / "creditmeter"), "serve", "--port", str(port)],
        env=_environment(
            CREDITMETER_DATABASE_URL=f"sqlite:///{database}",
            CREDITMETER_EXPORT_RATE_LIMIT="0",
            # The alerts walk-through runs its receiver on this machine.
            CREDITMETER_WEBHOOK_ALLOW_PRIVATE="1",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the demo server did not start") from None
                time.sleep(0.1)
        banner = demo_banner(info, Path(database.name), DOCUMENTED_BASE)
        yield Demo(url, banner, info.personal_key, info.ingest_token)
    finally:
        server.terminate()
        server.wait(timeout=30)


def _complete(command: list[str]) -> bool:
    """Whether the lines make a whole command: no ``\\`` at the end, no quote left open."""
    if command[-1].endswith("\\"):
        return False
    try:
        shlex.split("\n".join(command)[2:])
    except ValueError:
        return False
    return True


def _commands(body: str) -> list[str]:
    """The commands of a console session: each ``$`` line with the lines that continue it."""
    commands: list[str] = []
    lines = iter(body.splitlines())
    for line in lines:
        if not line.startswith("$ "):
            continue
        command = [line]
        while not _complete(command):
            command.append(next(lines))
        commands.append("\n".join(command))
    return commands


def _fixed(text: str) -> str:
    for pattern, shown in ALERT_PLACEHOLDERS:
        text = pattern.sub(shown, text)
    return text


def session(body: str, demo: Demo, directory: Path, fixed: bool = False) -> str:
    """The session's commands, each followed by what it prints, run in one bash;
    ``fixed``: with ``ALERT_PLACEHOLDERS``."""
    commands = _commands(body)
    script = "".join(
        f"printf '{_SEPARATOR}'\n{command[2:].replace(DOCUMENTED_BASE, demo.url)} 2>&1\n"
        for command in commands
    )
    answer = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        cwd=directory,
        env=_environment(
            KEY=demo.personal_key,
            TOKEN=demo.ingest_token,
            CREDITMETER_URL=demo.url,
            HOME=str(directory),  # no ~/.curlrc or the like of whoever runs `make docs`
        ),
        timeout=600,
    )
    outputs = answer.stdout.split(_SEPARATOR)[1:]
    if len(outputs) != len(commands):
        raise RuntimeError(f"the session stopped early: {answer.stderr}")
    text = "".join(
        command
        + "\n"
        + readable(
            tidy(
                (_fixed if fixed else str)(
                    demo.placeholders(output).replace(str(directory), DOCUMENTED_DIRECTORY)
                )
            )
        )
        for command, output in zip(commands, outputs, strict=True)
    )
    return f"```console\n{text}```\n"


def _statements(body: str) -> list[str]:
    """The statements of a Python session: each ``>>>`` line with its ``...`` lines."""
    statements: list[str] = []
    for line in body.splitlines():
        if line.startswith(">>> "):
            statements.append(line)
        elif statements and (line == "..." or line.startswith("... ")):
            statements[-1] += "\n" + line
    return statements


def python_session(body: str, demo: Demo) -> str:
    """The session's statements run one by one, as the interactive interpreter shows them."""
    namespace: dict[str, object] = {"__name__": "__console__"}
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(_environment(CREDITMETER_URL=demo.url, CREDITMETER_API_KEY=demo.personal_key))
    text = ""
    try:
        for statement in _statements(body):
            source = "\n".join(line[4:] for line in statement.splitlines()) + "\n"
            printed = io.StringIO()
            with redirect_stdout(printed):
                try:
                    exec(compile(source, "<stdin>", "single"), namespace)
                except Exception as exc:  # shown as the interpreter shows it, less the frames
                    error = "".join(traceback.format_exception_only(exc))
                    printed.write(f"Traceback (most recent call last):\n  ...\n{error}")
            text += statement + "\n" + tidy(demo.placeholders(printed.getvalue()))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return f"```pycon\n{text}```\n"


def readable(output: str) -> str:
    """One-line JSON answers with a row (or a problem) a line, as a person would wrap them."""
    lines = []
    for line in output.splitlines():
        for key in ("data", "details"):
            opening = f'"{key}":[{{'
            if line.startswith("{") and opening in line and len(line) > 100:
                indent = " " * len(f' "{key}":[')
                line = line.replace(opening, "\n " + opening, 1).replace(
                    "},{", "},\n" + indent + "{"
                )
        lines.append(line + "\n")
    return "".join(lines)


def tidy(output: str) -> str:
    """``output`` without trailing spaces, nor blank lines at its ends (a terminal pads them)."""
    lines = [line.rstrip() for line in output.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "".join(line + "\n" for line in lines)


def fill(what: str, body: str, demo: Demo | None, directory: Path) -> str:
    """What the region named ``what`` holds now."""
    if what.startswith("creditmeter ") and what.endswith(" --help"):
        return f"```console\n$ {what}\n{tidy(help_text(what))}```\n"
    if demo is None:
        raise ValueError(f"the region '{what}' needs the demo")
    if what == "creditmeter demo":
        return f"```console\n$ make demo\n{tidy(demo.placeholders(demo.banner))}...\n```\n"
    if what == "demo session":
        return session(body, demo, directory)
    if what == "alerts session":
        return session(body, demo, directory, fixed=True)
    if what == "python session":
        return python_session(body, demo)
    raise ValueError(
        f"Unknown generated region '{what}': use 'creditmeter ... --help', "
        "'creditmeter demo', 'demo session', 'alerts session' or 'python session'."
    )


def generate(texts: dict[str, str]) -> dict[str, str]:
    """Each file's text with its generated regions filled anew."""
    needs_demo = any(
        not match["what"].endswith("--help")
        for text in texts.values()
        for match in _REGION.finditer(text)
    )
    with tempfile.TemporaryDirectory(prefix="creditmeter-docs-") as scratch:
        directory = Path(scratch)
        (directory / ".venv").symlink_to(BIN.parent)
        for example in EXAMPLES.iterdir():
            (directory / example.name).write_bytes(example.read_bytes())
        with served_demo(directory) if needs_demo else _nothing() as demo:
            return {
                name: _REGION.sub(
                    lambda match: (
                        f"<!-- generated: {match['what']} -->\n"
                        + fill(match["what"], match["body"], demo, directory)
                        + "<!-- end generated -->"
                    ),
                    text,
                )
                for name, text in texts.items()
            }


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def main(argv: list[str]) -> int:
    texts = {name: (ROOT / name).read_text() for name in FILES}
    current = generate(texts)
    stale = [name for name in FILES if current[name] != texts[name]]
    if "--check" in argv:
        for name in stale:
            print(f"{name} is stale: run `make docs`")
        return 1 if stale else 0
    for name in stale:
        (ROOT / name).write_text(current[name])
        print(f"rewrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
