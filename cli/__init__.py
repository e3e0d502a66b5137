"""The one `sailau` command line, sitting on top of every component."""
