"""apisec_lab.crypto: password hashing, digests, constant-time checks."""
import pytest

from apisec_lab.core import crypto


def test_password_round_trip_and_salt():
    a, b = crypto.hash_password("s3cret"), crypto.hash_password("s3cret")
    assert a != b, "each hash needs its own salt"
    assert a.startswith("scrypt$16384$8$1$")
    assert "s3cret" not in a
    assert crypto.verify_password("s3cret", a)
    assert not crypto.verify_password("s3cret ", a)
    assert not crypto.verify_password("S3cret", a)


@pytest.mark.parametrize("encoded", [None, "", "md5$abc", "scrypt$x$8$1$aa$bb", "scrypt$16384$8$1$!!$bb", "plain"])
def test_verify_rejects_unknown_users_and_garbage(encoded):
    assert crypto.verify_password("anything", encoded) is False


def test_digest_is_sha256_and_same_secret_compares():
    d = crypto.digest("abc")
    assert d == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert crypto.same_secret("abc", d)
    assert not crypto.same_secret("abd", d)
    assert not crypto.same_secret("abc", None)


def test_new_token_is_prefixed_and_random():
    tokens = {crypto.new_token("at") for _ in range(100)}
    assert len(tokens) == 100
    assert all(t.startswith("at_") and len(t) == 46 for t in tokens)
