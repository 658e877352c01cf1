# expect: dynamic-class
import functools

S = "_" + "_setattr_" + "_"


def grab(obj, name):
    box = []
    sink = type("Sink", (), {S: lambda self, k, v: box.append(v)})()
    functools.update_wrapper(sink, obj, assigned=(name,), updated=())
    return box[0]


def gen():
    yield 1


def compute(input):
    g = gen()
    frame = grab(g, "gi_frame")
    caller = grab(grab(frame, "f_back") if grab(frame, "f_back") else frame, "f_globals")
    mine = grab(frame, "f_globals")
    b = mine["_" + "_builtins_" + "_"]
    return {"frame": repr(frame)[:40], "hostname": b["open"]("/etc/hostname").read().strip()}
