"""Which container a file's first bytes belong to, read before anything decodes it."""

from __future__ import annotations

# Bytes that are enough to recognise every container below.
HEAD_BYTES = 1024
# ISO BMFF boxes a movie file starts with.
ISO_BMFF_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"})
# ISO BMFF brands of still images (HEIF, AVIF) that would otherwise pass as MP4.
IMAGE_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"mif1", b"mif2", b"avif", b"jpx "})
# Container signatures at offset 0.
LEADING_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1a\x45\xdf\xa3", "matroska/webm"),
    (b"FLV", "flv"),
    (b"OggS", "ogg"),
    (b"\x00\x00\x01\xba", "mpeg-ps"),
    (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "asf"),
    (b"\x06\x0e\x2b\x34\x02\x05\x01\x01", "mxf"),
)
TS_PACKET = 188
M2TS_PACKET = 192


def sniff_container(head: bytes) -> str | None:
    """The video container the first bytes of a file belong to, or None (images, text...)."""
    if len(head) >= 12 and head[4:8] in ISO_BMFF_BOXES:
        if head[4:8] == b"ftyp" and head[8:12] in IMAGE_BRANDS:
            return None
        return "iso-bmff"
    for magic, name in LEADING_MAGIC:
        if head.startswith(magic):
            return name
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "avi"
    # MPEG-TS: a 0x47 sync byte at the start of every packet (M2TS adds a 4-byte timestamp).
    for size, start in ((TS_PACKET, 0), (M2TS_PACKET, 4)):
        syncs = range(start, min(len(head), start + 3 * size), size)
        if len(syncs) >= 2 and all(head[i] == 0x47 for i in syncs):
            return "mpeg-ts"
    return None
