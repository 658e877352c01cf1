# expect: module-attribute
from copy import copyreg


def compute(input):
    return {"modules": len(copyreg.sys.modules)}
