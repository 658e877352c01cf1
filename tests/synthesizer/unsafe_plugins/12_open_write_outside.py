# expect: filesystem
def compute(input):
    with open("/etc/cron.d/planexe", "w") as f:
        f.write("* * * * * root id\n")
    return {}
