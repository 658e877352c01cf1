# expect: dynamic-class
import dataclasses

A = "_" + "_annotations_" + "_"
CODE = "import os; R.append(open('/etc/hostname').read().strip()); R.append(os.getcwd())"
R = []


def compute(input):
    cls = type("Evil", (), {A: {"a if 0 else exec(CODE),)#": int}})
    dataclasses.dataclass(cls, init=False, repr=False, eq=True)
    cls() == cls()
    return {"stolen": R}
