# expect: module-attribute
import operator


def compute(input):
    cls = operator.attrgetter("__class__.__base__.__subclasses__")(())()
    return {"n": len(cls)}
