# expect: import
import importlib


def compute(input):
    return {"os": str(importlib.import_module("o" + "s"))}
