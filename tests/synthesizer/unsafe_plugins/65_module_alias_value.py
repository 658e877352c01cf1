# expect: module-value
import statistics


def compute(input):
    stats = statistics
    return {"r": str(stats.random)}
