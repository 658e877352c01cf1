# expect: module-attribute
import typing


def compute(input):
    # os through sys.modules, with sys reached as an attribute of an allowed module
    typing.sys.modules["os"].system("id")
    return {}
