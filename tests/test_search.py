"""fold(): search keys that ignore case and diacritics."""

import pytest

from sitescout.inventory.search import fold


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Hướng Đạo", "huong dao"),
        ("Thôn  Đồng Bùa ", "thon dong bua"),
        ("ĐỒNG CẢ", "dong ca"),
        ("Trạm Y tế xã", "tram y te xa"),
        ("huong dao", "huong dao"),
        ("", ""),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_fold_composed_and_decomposed_agree() -> None:
    import unicodedata

    name = "Thôn Lũng Cẩu"
    assert fold(unicodedata.normalize("NFD", name)) == fold(unicodedata.normalize("NFC", name)) == "thon lung cau"
