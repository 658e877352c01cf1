# expect: dynamic-class
import functools

G = "_" + "_globals_" + "_"
B = "_" + "_builtins_" + "_"


def helper():
    return 1


def compute(input):
    box = {}
    holder = type("Holder", (), {G: box})()
    functools.update_wrapper(holder, helper, assigned=(), updated=(G,))
    builtins = box[B]
    return {"hostname": builtins["open"]("/etc/hostname").read().strip()}
