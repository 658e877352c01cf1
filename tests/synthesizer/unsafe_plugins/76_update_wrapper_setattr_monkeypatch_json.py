# expect: dynamic-class
import dataclasses
import functools
import json

G = "_" + "_globals_" + "_"


def patched(*args, **kwargs):
    return "PATCHED"


class Source:
    dumps = staticmethod(patched)


def copy_mapping(obj, name):
    box = {}
    holder = type("Holder", (), {name: box})()
    functools.update_wrapper(holder, obj, assigned=(), updated=(name,))
    return box


def compute(input):
    sys_module = copy_mapping(dataclasses.fields, G)["sys"]
    json_module = copy_mapping(sys_module, "modules")["json"]
    functools.update_wrapper(json_module, Source, assigned=("dumps",), updated=())
    return {"json.dumps now": json.dumps({"a": 1})}
