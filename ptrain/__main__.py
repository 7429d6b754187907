from ptrain.cli.entry import run

run()
