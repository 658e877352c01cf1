# expect: import
import socket


def compute(input):
    socket.create_connection(("127.0.0.1", 8080)).sendall(b"hello")
    return {}
