"""Drivers for serial-connected laboratory instruments, each with a simulator.

This package never imports `labthings`: drivers are plain Python that Things wrap.
"""
