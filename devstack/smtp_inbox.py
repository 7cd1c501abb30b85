"""A local SMTP inbox: every mail received is kept as a `.eml` file.

`python -m devstack.smtp_inbox --port 2525 --dir .local/mail`

So that failures can be tried against a real server, some local parts behave like a server in
trouble: `refuse-…@` is refused for good (550); `flaky-…@` is refused for now (451) the first
two times each address is tried, then taken; mail to `slow-…@` waits 2 s before the server
answers, and, as a real server must, is not kept if the client went away before the answer."""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
import uuid
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

SLOW_SECONDS = 2.0
FLAKY_REFUSALS = 2


class SaveToFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.tries: dict[str, int] = {}

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        local = address.split("@")[0].lower()
        if local.startswith("refuse-"):
            return "550 5.1.1 mailbox unavailable"
        if local.startswith("flaky-"):
            self.tries[address] = self.tries.get(address, 0) + 1
            if self.tries[address] <= FLAKY_REFUSALS:
                return "451 4.3.0 temporarily unable to accept mail; try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if any(r.lower().startswith("slow-") for r in envelope.rcpt_tos):
            await asyncio.sleep(SLOW_SECONDS)
            transport = getattr(server, "transport", None)
            if transport is None or transport.is_closing():
                return "451 4.4.2 connection lost before the answer; not kept"
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.eml"
        headers = (
            f"X-Envelope-From: {envelope.mail_from}\r\n"
            f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        tmp = self.folder / (name + ".tmp")
        tmp.write_bytes(headers + envelope.original_content)
        tmp.rename(self.folder / name)
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--dir", type=Path, default=Path(".local/mail"))
    args = parser.parse_args()
    controller = Controller(SaveToFolder(args.dir), hostname="127.0.0.1", port=args.port)
    controller.start()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.run_until_complete(stop.wait())
    controller.stop()


if __name__ == "__main__":
    main()
