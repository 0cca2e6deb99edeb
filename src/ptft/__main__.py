from ptft.cli import run

run()
