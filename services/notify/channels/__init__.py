"""Delivery channels behind one small interface, so notify's rules never know a vendor.

Each adapter speaks its system's real protocol: WeCom and DingTalk group robots (DingTalk's
signed webhook), e-mail over SMTP, SMS through an HTTP gateway. The console inbox is a channel
too: stored is delivered.
"""

from __future__ import annotations

from .base import Channel, ChannelError, Outbound
from .mail import SmtpMail
from .robot import DingTalkRobot, WeComRobot
from .sms import SmsGateway

__all__ = [
    "Channel",
    "ChannelError",
    "DingTalkRobot",
    "Outbound",
    "SmsGateway",
    "SmtpMail",
    "WeComRobot",
]
