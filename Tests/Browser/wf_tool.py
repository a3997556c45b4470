"""A command tool for the workflow tests: `echo TEXT` prints {"text": TEXT}; `append LINE FILE`
appends LINE to FILE (an effect that must not happen twice) and prints {"appended": LINE}."""
import json
import sys

mode = sys.argv[1]
if mode == "echo":
    print(json.dumps({"text": sys.argv[2]}))
elif mode == "append":
    with open(sys.argv[3], "a") as log:
        log.write(sys.argv[2] + "\n")
    print(json.dumps({"appended": sys.argv[2]}))
else:
    sys.exit(f"unknown mode {mode}")
