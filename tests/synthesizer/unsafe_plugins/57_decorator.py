# expect: decorator
def leak(function):
    return function.__name__


@leak
def compute(input):
    return {}
