# expect: private
import enum

N = "_" + "_init_subclass_" + "_"


def compute(input):
    E = enum.Enum("E", {"a": 1, "b": 2})
    return {"members": [m.name for m in E], "private": repr(E._member_map_)[:60]}
