# expect: decorator
@(lambda f: f)
def compute(input):
    return {}
