"""The box's two uplinks, Ethernet (primary) and LTE (backup).

``policy.py`` decides -- which link carries the box, whether it must go offline, and why -- from
observations and the monotonic time it is given; it does no I/O and reads no clock. Watching the links
(netlink, probes bound to an interface) and moving the route are the I/O side's, which feeds it.
"""
