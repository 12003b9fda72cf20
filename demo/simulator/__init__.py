"""The device simulator: the demo campus's cameras and recorders, on real sockets."""
