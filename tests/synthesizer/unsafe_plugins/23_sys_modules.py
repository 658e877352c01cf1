# expect: import
import sys


def compute(input):
    sys.modules["os"].system("id")
    return {}
