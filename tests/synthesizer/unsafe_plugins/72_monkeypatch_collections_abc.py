# expect: module-value
import collections.abc


def compute(input):
    abc = collections.abc
    abc.Mapping = list
    import collections.abc as again
    return {"patched": again.Mapping is list}
