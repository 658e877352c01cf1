# expect: private
import typing

R = []


def compute(input):
    (ref,) = typing.get_args(typing.List["[R.append(open('/etc/hostname').read().strip()), int][1]"])
    ref._evaluate({"R": R}, None, frozenset())
    return {"hostname": R}
