"""`python -m minigan ...`: the `minigan` command."""

from minigan.commands import main

main()
