# expect: import
from importlib import resources


def compute(input):
    return {"data": resources.files("planexe_gen_probe").joinpath("spec.py").read_text()}
