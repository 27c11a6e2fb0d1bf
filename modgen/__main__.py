"""``python -m modgen``: the ``modgen`` command line, so that ``torchrun -m modgen train ...`` works.

Example:
    ``torchrun --nproc-per-node 2 -m modgen train --recipe amaz --dataset digits``
"""

from __future__ import annotations

from modgen.cli import main

if __name__ == "__main__":
    main()
