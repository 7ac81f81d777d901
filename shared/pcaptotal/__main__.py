"""``python -m pcaptotal``: operator commands (see ``pcaptotal.cli``)."""

from pcaptotal.cli import main

main()
