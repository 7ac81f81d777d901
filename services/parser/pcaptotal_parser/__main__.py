"""``python -m pcaptotal_parser``: the parser worker on its own (a competing consumer)."""

from __future__ import annotations

from pcaptotal.context import Context
from pcaptotal.service import run_worker

from pcaptotal_parser.worker import ParserWorker


async def _start(ctx: Context) -> None:
    await ParserWorker(ctx).start()


def main() -> None:
    run_worker("parser", _start)


if __name__ == "__main__":
    main()
