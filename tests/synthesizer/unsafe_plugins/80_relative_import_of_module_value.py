# expect: import
from . import logic as me


def compute(input):
    holder = [me]
    return {"module": repr(holder[0])[:50]}
