# expect: module-attribute
import string


def compute(input):
    return {"x": str(string.Formatter().get_field("0.__class__", (1,), {}))}
