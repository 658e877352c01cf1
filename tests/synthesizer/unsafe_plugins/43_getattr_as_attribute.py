# expect: dynamic-code
import functools


def compute(input):
    lookup = functools.partial(input.getattr, input)
    return {"v": lookup("keys")}
