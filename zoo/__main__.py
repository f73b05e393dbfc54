from zoo.cli import entry

entry()
