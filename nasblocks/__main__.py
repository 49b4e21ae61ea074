"""``python -m nasblocks`` runs the command line."""

from nasblocks.cli import main

main()
