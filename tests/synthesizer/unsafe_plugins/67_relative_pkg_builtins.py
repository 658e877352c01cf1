# expect: import
from . import __builtins__ as b


def compute(input):
    return {"hostname": b["open"]("/etc/hostname").read().strip()}
