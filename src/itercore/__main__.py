"""``python -m itercore``: show the build, then solve one problem per family."""

from ._demo import main

if __name__ == "__main__":
    raise SystemExit(main())
