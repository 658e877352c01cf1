# expect: import
import multiprocessing


def compute(input):
    while True:
        multiprocessing.Process(target=compute, args=(input,)).start()
