# expect: dynamic-attribute
def compute(input):
    cls = getattr(input, "__class__")
    return {"name": str(cls)}
