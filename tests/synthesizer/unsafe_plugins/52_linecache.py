# expect: module-attribute
import textwrap


def compute(input):
    # textwrap.re, then re's own modules: a module reached through another
    return {"line": str(textwrap.re.enum)}
