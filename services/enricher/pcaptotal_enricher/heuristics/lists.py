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
    {53, 67, 68, 123, 137, 138, 546, 547, 853, 1900, 3702, 5353, 5355}
)

# User agents / markers of offensive scanners and exploitation tools, as they ship them
# (nmap NSE, Nikto, sqlmap, masscan, ZGrab, Nuclei, WPScan, dirb/dirbuster/gobuster/ffuf,
# wfuzz, Hydra, Acunetix, Nessus, OpenVAS, w3af, Arachni, Netsparker, Jorgee, ZmEu).
SCANNER_UA = re.compile(
    r"(nmap scripting engine|nikto|sqlmap|masscan|zgrab|nuclei|wpscan|dirbuster|gobuster|"
    r"\bdirb\b|\bffuf\b|wfuzz|hydra|acunetix|nessus|openvas|w3af|arachni|netsparker|"
    r"jorgee|zmeu|morfeus|fuzz faster)",
    re.IGNORECASE,
)
# nmap -sV's HTTP probe for a missing file (nmap-service-probes "FourOhFourRequest")
NMAP_PROBE_URIS: tuple[str, ...] = ("/nice%20ports%2C/Tri%6Eity.txt%2ebak", "/nice ports,/Trinity")

# Services where every session is an authentication (brute-force targets).
AUTH_PORTS: dict[int, str] = {
    21: "FTP", 22: "SSH", 23: "Telnet", 88: "Kerberos", 110: "POP3", 143: "IMAP",
    389: "LDAP", 445: "SMB", 1433: "MSSQL", 3306: "MySQL", 3389: "RDP", 5432: "PostgreSQL",
    5900: "VNC", 5985: "WinRM", 2222: "SSH",
}  # fmt: skip
LOGIN_URI = re.compile(r"(login|logon|signin|sign-in|auth|wp-login|xmlrpc|session)", re.I)

# Form field names of host inventory posted by loaders/stealers (Amadey id/vs/os/pc/un/av,
# SmokeLoader, Azorult, Lokibot panels): the victim's OS, machine, user and AV names.
INVENTORY_FIELDS: frozenset[str] = frozenset(
    _words(
        """
    os osver os_version winver pc pcname computer computername hostname host_name machine
    un user username usr domain dm av antivirus hwid guid botid bot_id bid arch ar cpu gpu
    ram lang locale vs ver build
    """
    )
)
CREDENTIAL_FIELDS = re.compile(r"^(pass|passwd|password|pwd|pw|secret|credentials?|token)$", re.I)

# Default certificate subjects of C2 frameworks and RATs (public write-ups of their TLS
# defaults: Cobalt Strike's "Major Cobalt Strike", AsyncRAT/DcRat/Quasar server certificates,
# PoshC2, Sliver's "multiplayer" CA, Covenant, Mythic, Metasploit's generated CN).
C2_CERT_SUBJECTS = re.compile(
    r"(major cobalt strike|cobaltstrike|asyncrat server|dcrat server|\bdcrat\b|"
    r"quasar server ca|venomrat|bitrat|p18055077|multiplayer|covenant|mythic|"
    r"metasploit|meterpreter|havoc|brute ratel|\bbrc4\b|remcos|nanocore)",
    re.IGNORECASE,
)
