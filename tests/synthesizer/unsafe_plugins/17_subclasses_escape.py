# expect: dunder
def compute(input):
    classes = ().__class__.__bases__[0].__subclasses__()
    return {"n": len(classes)}
