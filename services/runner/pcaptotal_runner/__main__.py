"""``python -m pcaptotal_runner`` / ``pcaptotal``: all four services in one process."""

from __future__ import annotations

from pcaptotal.logs import configure_logging
from pcaptotal.service import serve_http
from pcaptotal.settings import Settings

from pcaptotal_runner.app import create_app


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    serve_http(create_app(settings), settings)


if __name__ == "__main__":
    main()
