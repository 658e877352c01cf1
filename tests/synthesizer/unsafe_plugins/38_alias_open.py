# expect: filesystem
write = open


def compute(input):
    write("/etc/passwd", "a").write("x")
    return {}
