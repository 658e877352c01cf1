# expect: module-attribute
import functools


def base(x):
    return x


dispatch = functools.singledispatch(base)


def handler(x: "[exec('import os; R.append(os.environ.get(chr(72)+chr(79)+chr(77)+chr(69)))'), int][1]"):
    return x


R = []


def compute(input):
    dispatch.register(handler)
    return {"home": R}
