# expect: dynamic-attribute
import math


def compute(input):
    fn = getattr(math, "ev" + "al", None)
    return {"x": fn}
