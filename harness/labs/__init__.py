"""One support module per lab: harness/labs/labNN.py holds that lab's peers, proxies,
fixtures and step language. harness.plugin loads each one as a pytest plugin, so the lab's
tests and an instructor's hidden tests get its fixtures by name, and may import its helpers:
`from harness.labs.lab02 import UdpProxy`. Nothing here imports a test module.
"""
