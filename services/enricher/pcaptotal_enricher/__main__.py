"""``python -m pcaptotal_enricher``: the enricher worker on its own (a competing consumer)."""

from __future__ import annotations

from pcaptotal.context import Context
from pcaptotal.service import run_worker

from pcaptotal_enricher.worker import EnricherWorker


async def _start(ctx: Context) -> None:
    await EnricherWorker(ctx).start()


def main() -> None:
    run_worker("enricher", _start)


if __name__ == "__main__":
    main()
