"""Small built-in reference lists (no network access is ever needed)."""

from __future__ import annotations

import re


def _words(text: str) -> list[str]:
    return text.split()


# Registered domains too common to ever call DGA-like (their labels can look random).
COMMON_DOMAINS: frozenset[str] = frozenset(
    _words(
        """
    google.com google.de googleapis.com gstatic.com googleusercontent.com googlevideo.com
    youtube.com ytimg.com gvt1.com gvt2.com doubleclick.net googlesyndication.com
    microsoft.com windows.com windowsupdate.com live.com msn.com bing.com office.com
    office365.com microsoftonline.com azureedge.net azure.com msedge.net skype.com
    apple.com icloud.com mzstatic.com amazon.com amazonaws.com cloudfront.net awsdns.com
    facebook.com fbcdn.net instagram.com whatsapp.net twitter.com twimg.com linkedin.com
    akamai.net akamaiedge.net akamaihd.net akadns.net edgekey.net edgesuite.net
    cloudflare.com cloudflare-dns.com fastly.net wikipedia.org wikimedia.org github.com
    githubusercontent.com digicert.com letsencrypt.org mozilla.org mozilla.net yahoo.com
    netflix.com nflxvideo.net ultradns.net ultradns.com ultradns.org ultradns.biz
    """
    )
)

# Dynamic-DNS providers: free hostnames that point at whatever address the owner wants.
DYNAMIC_DNS_SUFFIXES: tuple[str, ...] = tuple(
    _words(
        """
    no-ip.com no-ip.org no-ip.biz no-ip.info noip.me ddns.net hopto.org zapto.org sytes.net
    serveftp.com servehttp.com myftp.biz myftp.org redirectme.net serveblog.net servegame.com
    duckdns.org dyndns.org dyndns.biz dynu.com dynu.net freedns.afraid.org mooo.com
    chickenkiller.com ddnsking.com con-ip.com linkpc.net publicvm.com dnsabr.com
    myddns.me ddns.me 3utilities.com bounceme.net gotdns.ch kozow.com ddnsfree.com
    """
    )
)

# Services whose only job is to tell a host its public address (malware "discovery" step).
IP_LOOKUP_SERVICES: frozenset[str] = frozenset(
    _words(
        """
    api.ipify.org api64.ipify.org ipify.org ip-api.com checkip.amazonaws.com
    checkip.dyndns.org checkip.dyndns.com icanhazip.com ipv4.icanhazip.com ifconfig.me
    ifconfig.co ipinfo.io ipecho.net myexternalip.com wtfismyip.com ident.me
    api.myip.com ip.seeip.org ipapi.co freegeoip.app geoplugin.net www.geoplugin.net
    ipwho.is ip.anysrc.net myip.dnsomatic.com whatismyipaddress.com api.ipstack.com
    """
    )
)

# Carved-file content types (libmagic names) that can run on the receiving host. Generic OLE
# storage (application/x-ole-storage) is left out: it is mostly Office documents; libmagic
# names MSI installers application/x-msi when it can tell.
EXECUTABLE_MIME_TYPES: frozenset[str] = frozenset(
    _words(
        """
    application/x-dosexec application/x-msdownload application/vnd.microsoft.portable-executable
    application/x-executable application/x-elf application/x-sharedlib application/x-pie-executable
    application/x-mach-binary application/x-msi application/x-ms-installer
    application/java-archive application/x-java-archive
    application/x-java-applet application/vnd.android.package-archive
    text/x-shellscript text/x-sh application/x-sh text/x-python text/x-perl
    text/x-msdos-batch application/x-bat application/hta application/x-powershell
    text/x-powershell text/vbscript application/x-vbscript text/jscript
    """
    )
)

# HTTP user agents of scripts, tools and libraries rather than browsers.
SCRIPTED_UA = re.compile(
    r"^(python-requests|python-urllib|python/|aiohttp|httpx|curl/|wget/|go-http-client|"
    r"powershell|windowspowershell|java/|okhttp|libwww-perl|lwp::|winhttp|"
    r"mozilla/4\.0 \(compatible; win32; winhttp|certutil|bitsadmin|nim httpclient|"
    r"ruby|axios|node-fetch)",
    re.IGNORECASE,
)
OLD_MSIE = re.compile(r"MSIE [2-7]\.\d", re.IGNORECASE)

# Ports where a protocol is expected (used by the "unexpected port" checks).
HTTP_PORTS: frozenset[int] = frozenset({80, 8080, 8000, 8008, 3128, 591})
TLS_PORTS: frozenset[int] = frozenset(
    {443, 8443, 993, 995, 465, 636, 853, 989, 990, 992, 994, 5061, 5223, 8883, 6697, 4433}
)
# Infrastructure chatter that polls on a timer by design (not beaconing).
INFRA_PORTS: frozenset[int] = frozenset(
    {53, 67, 68, 123, 137, 138, 546, 547, 1900, 3702, 5353, 5355}
)
