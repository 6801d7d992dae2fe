"""The client's address, one rule for every per-address decision (rate limits, login lockouts).

REMOTE_ADDR, or with TRUSTED_PROXY_COUNT proxies in front, the X-Forwarded-For entry that many hops
from the right: the one our own outermost proxy appended, which a client cannot forge (anything the
client sends lands further left). It matches DRF's get_ident with NUM_PROXIES set to the same count.
"""

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    remote_addr = request.META.get("REMOTE_ADDR", "")
    forwarded_for = request.META.get("HTTP_X_FORWARDED_FOR")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0 or forwarded_for is None:
        return remote_addr
    hops = forwarded_for.split(",")
    return hops[-min(proxies, len(hops))].strip()
