"""A local SMTP inbox: every mail received is kept as a `.eml` file.

`python -m devstack.smtp_inbox --port 2525 --dir .local/mail`"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
import uuid
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class SaveToFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
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
