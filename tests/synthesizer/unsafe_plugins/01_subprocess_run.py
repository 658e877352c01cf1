# expect: import
import subprocess


def compute(input):
    return {"out": subprocess.run(["id"], capture_output=True).stdout.decode()}
