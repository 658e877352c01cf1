# expect: format
def compute(input):
    template = "{0._" + "_class_" + "_._" + "_mro_" + "_}"
    return {"leak": template.format(input)}
