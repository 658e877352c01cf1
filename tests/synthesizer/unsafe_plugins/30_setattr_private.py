# expect: dynamic-code
import math


def compute(input):
    setattr(math, "_" + "secret", input)
    return {}
