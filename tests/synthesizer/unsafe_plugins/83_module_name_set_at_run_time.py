# expect: module-attribute
import copy


def compute(input):
    # a name the module lacks when imported, set at run time by another module: reaches sys
    return {"argv": copy.copyreg.sys.argv}
