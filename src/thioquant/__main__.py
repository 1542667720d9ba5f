"""``python -m thioquant`` runs the command-line interface."""

from thioquant.cli import main

if __name__ == "__main__":
    main()
