"""socklab's harness: pytest fixtures and helpers that run the labs' programs over loopback and grade them.

Modules:
    paths     where the kit, the labs and their builds are
    procs     start a program in its own process group, wait for readiness, stop and reap it
    feedback  failure messages that show what was sent, what came back and what was expected
    peers     trusted peers written in Python (an echo server, line clients)
    proxy     fault-injecting proxies: a TCP fragmenter and a UDP loss/delay proxy
    plugin    the pytest plugin: options, markers, fixtures
    grade     the grader: build, run the tests, print a table, write results.json and JUnit XML
"""
