"""XMP sidecars: a photo's star rating where darktable and digiKam look for it.

The rating is the gallery tier 0..3 as 1..4 stars, in ``xmp:Rating`` of ``<file name>.xmp``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

XMP_NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "xmp": "http://ns.adobe.com/xap/1.0/",
}
for _prefix, _uri in XMP_NS.items():
    ET.register_namespace(_prefix, _uri)


def stars(tier: int) -> int:
    """Star rating for a tier: 0 (below the median) -> 1 star ... 3 (top 2%) -> 4 stars."""
    return int(tier) + 1


def xmp_packet(rating: int) -> bytes:
    """An XMP sidecar holding ``xmp:Rating``."""
    meta = ET.Element(f"{{{XMP_NS['x']}}}xmpmeta")
    rdf = ET.SubElement(meta, f"{{{XMP_NS['rdf']}}}RDF")
    ET.SubElement(
        rdf,
        f"{{{XMP_NS['rdf']}}}Description",
        {f"{{{XMP_NS['rdf']}}}about": "", f"{{{XMP_NS['xmp']}}}Rating": str(int(rating))},
    )
    ET.indent(meta, space=" ")
    body = ET.tostring(meta, encoding="unicode")
    return (
        f'<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n{body}\n<?xpacket end="w"?>\n'
    ).encode()
