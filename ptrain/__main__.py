from ptrain.cli.main import run

run()
