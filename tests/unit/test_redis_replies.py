"""The typed readers of redis-py replies."""

import pytest

from contract.redis_replies import text_scores, texts


def test_text_scores_decodes_members_and_keeps_scores() -> None:
    """A WITHSCORES reply becomes (text member, float score) pairs, in order."""
    assert text_scores([(b"a\nb", 1.5), (b"c", 2)]) == [("a\nb", 1.5), ("c", 2.0)]


def test_text_scores_refuses_a_reply_without_scores() -> None:
    """A plain member list is not mistaken for scored pairs."""
    with pytest.raises(TypeError, match="pairs"):
        text_scores([b"a", b"b"])


def test_texts_reads_a_set_reply() -> None:
    """SMEMBERS' set of bytes becomes text."""
    assert sorted(texts({b"x", b"y"})) == ["x", "y"]
