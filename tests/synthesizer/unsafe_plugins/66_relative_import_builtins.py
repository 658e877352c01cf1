# expect: import
from .logic import __builtins__ as b


def compute(input):
    ev = b["eval"]
    return {"hostname": ev("open('/etc/hostname').read().strip()")}
