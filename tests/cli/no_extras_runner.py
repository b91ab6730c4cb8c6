"""Run inside a venv holding only senet-proto's base dependencies (tests/cli/test_no_extras.py).

argv[1]: a JSON list of [case, args]; each is run through click's CliRunner. Then calls the public functions
that need extras (argv[2]: a file written by ``convert --to pytorch``).
Prints one JSON object: case -> [exit code, output, exception type or None].
"""

import json
import sys

from click.testing import CliRunner

import senet_proto
from senet_proto.cli import main

results = {}
for case, args in json.loads(sys.argv[1]):
    r = CliRunner().invoke(main, args)
    results[case] = [r.exit_code, r.output, None]

calls = {"load_pytorch": lambda: senet_proto.load_pytorch(sys.argv[2]),
         "build_module": lambda: senet_proto.build_module}
for name, call in calls.items():
    try:
        call()
        results[f"senet_proto.{name}"] = [0, "", None]
    except Exception as e:
        results[f"senet_proto.{name}"] = [1, str(e), type(e).__name__]
print(json.dumps(results))
