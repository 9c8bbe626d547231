"""Province codes in the first three digits of the 12-digit personal ID number (CCCD).

Source: Circular 07/2016/TT-BCA of the Ministry of Public Security, Annex 1 "Danh mục mã tỉnh, thành phố
trực thuộc trung ương nơi công dân đăng ký khai sinh" (63 codes, the provinces as they were in 2016). The
ID number keeps the code of the province where the birth was registered, so the table does not follow
later mergers (the 34 provinces from 1 July 2025): a CCCD issued today still starts with one of these
codes. Names are spelled as in the annex (NFC; "Hòa", "Hóa" with the tone mark on the second vowel).
Codes for citizens whose birth was registered abroad (country codes) are not in this annex and are not
accepted here.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

_TABLE: Final[tuple[tuple[str, str], ...]] = (
    ("001", "Hà Nội"),
    ("002", "Hà Giang"),
    ("004", "Cao Bằng"),
    ("006", "Bắc Kạn"),
    ("008", "Tuyên Quang"),
    ("010", "Lào Cai"),
    ("011", "Điện Biên"),
    ("012", "Lai Châu"),
    ("014", "Sơn La"),
    ("015", "Yên Bái"),
    ("017", "Hòa Bình"),
    ("019", "Thái Nguyên"),
    ("020", "Lạng Sơn"),
    ("022", "Quảng Ninh"),
    ("024", "Bắc Giang"),
    ("025", "Phú Thọ"),
    ("026", "Vĩnh Phúc"),
    ("027", "Bắc Ninh"),
    ("030", "Hải Dương"),
    ("031", "Hải Phòng"),
    ("033", "Hưng Yên"),
    ("034", "Thái Bình"),
    ("035", "Hà Nam"),
    ("036", "Nam Định"),
    ("037", "Ninh Bình"),
    ("038", "Thanh Hóa"),
    ("040", "Nghệ An"),
    ("042", "Hà Tĩnh"),
    ("044", "Quảng Bình"),
    ("045", "Quảng Trị"),
    ("046", "Thừa Thiên Huế"),
    ("048", "Đà Nẵng"),
    ("049", "Quảng Nam"),
    ("051", "Quảng Ngãi"),
    ("052", "Bình Định"),
    ("054", "Phú Yên"),
    ("056", "Khánh Hòa"),
    ("058", "Ninh Thuận"),
    ("060", "Bình Thuận"),
    ("062", "Kon Tum"),
    ("064", "Gia Lai"),
    ("066", "Đắk Lắk"),
    ("067", "Đắk Nông"),
    ("068", "Lâm Đồng"),
    ("070", "Bình Phước"),
    ("072", "Tây Ninh"),
    ("074", "Bình Dương"),
    ("075", "Đồng Nai"),
    ("077", "Bà Rịa - Vũng Tàu"),
    ("079", "Hồ Chí Minh"),
    ("080", "Long An"),
    ("082", "Tiền Giang"),
    ("083", "Bến Tre"),
    ("084", "Trà Vinh"),
    ("086", "Vĩnh Long"),
    ("087", "Đồng Tháp"),
    ("089", "An Giang"),
    ("091", "Kiên Giang"),
    ("092", "Cần Thơ"),
    ("093", "Hậu Giang"),
    ("094", "Sóc Trăng"),
    ("095", "Bạc Liêu"),
    ("096", "Cà Mau"),
)

PROVINCES: Final = MappingProxyType(dict(_TABLE))
"""Read-only mapping from the 3-digit code (``"001"``) to the province name in Vietnamese (NFC)."""


def province_name(code: str) -> str | None:
    """The province for a 3-digit code, or None when the code is not in the annex."""
    return PROVINCES.get(code)
