"""socklab's harness: pytest fixtures and helpers that run the labs' programs over loopback and grade them.

Modules (harness/README.md draws the layers and says where each kind of thing goes):
    paths     where the kit, the labs and their builds are
    procs     start a program in its own process group, wait for readiness, stop and reap it;
              run_bounded (the one deadline-and-kill routine); process walking with psutil
    build     build a lab with the kit's own Makefile (no pytest)
    sandbox   confine student code: user ids, namespaces, limits
    feedback  failure messages that show what was sent, what came back and what was expected
    peers     trusted peers written in Python (an echo server, line clients)
    proxy     fault-injecting proxies: a TCP fragmenter (udpproxy: the UDP loss/delay proxy)
    plugin    the pytest plugin: options, markers, fixtures; loads every labs/labNN.py
    labs      one support module per lab: its peers, proxies, fixtures and step language
    grade     the grader: build, run the tests, print a table, write results.json and JUnit XML
    mutate    make mutate: a mutation sweep of a lab's solution (csource: a small C tokenizer)
"""
