# expect: dynamic-attribute
import math


def compute(input):
    setattr(math, "_" + "secret", input)
    return {}
