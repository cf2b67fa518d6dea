"""``python -m pyresque``."""

from pyresque.cli import main

if __name__ == "__main__":
    main()
