# expect: dynamic-attribute
def compute(input):
    cls = input.__class__
    return {"name": str(cls)}
