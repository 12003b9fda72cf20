"""Protocol servers of the device simulator: Hikvision ISAPI, Dahua HTTP API and ONVIF
for many simulated cameras and NVRs on localhost, with injectable faults."""

from cctv.devstack.embedded import free_port

from .model import FAULTS, ChannelState, Faults, SimDevice
from .server import DeviceServer, loopback_hosts

__all__ = [
    "FAULTS",
    "ChannelState",
    "DeviceServer",
    "Faults",
    "SimDevice",
    "free_port",
    "loopback_hosts",
]
