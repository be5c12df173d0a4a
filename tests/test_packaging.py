"""The built wheel is the whole lab: installed in a fresh venv outside the checkout, it serves the seeded users.

Kept fast without cheating: the wheel is built from a copy of the files a release ships (pyproject.toml,
README.md, LICENSE, apisec_lab/), without build isolation when this interpreter has a recent setuptools; the
fresh venv has no pip of its own (this interpreter's pip installs into it, ``pip --python``) and reaches the
dependencies already installed here through a ``.pth`` path entry, so nothing is downloaded. The package itself
comes from the wheel alone: the check reads ``apisec_lab.__file__`` and the venv's ``sys.path`` and finds no trace
of the checkout. Part of the normal suite (marker ``packaging``, to select or deselect it).
"""
import importlib.metadata
import json
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ["pyproject.toml", "README.md", "LICENSE", "apisec_lab"]

#: Run inside the fresh venv, from a folder outside the checkout: start a lab, use it as a machine and as alice.
SCRIPT = r"""
import json, sys
import apisec_lab
from requests_oauthlib import OAuth2Session

lab = apisec_lab.start()
bot = lab.clients["backup-bot"]
with lab.session() as http:
    token = http.post(lab.metadata["token_endpoint"], data={"grant_type": "client_credentials"},
                      auth=(bot.client_id, bot.client_secret)).json()
    usage = http.get(f"{lab.api_url}/reports/usage", headers={"Authorization": f"Bearer {token['access_token']}"})
    app = lab.clients["photoprint"]
    oauth = OAuth2Session(app.client_id, redirect_uri=f"{lab.apps_url}/photoprint/callback",
                          scope=["profile:read"], pkce="S256")
    oauth.trust_env = False
    url, _ = oauth.authorization_url(lab.metadata["authorization_endpoint"])
    back = lab.authorize(url, "alice", apisec_lab.DEMO_PASSWORDS["alice"])
    alice = oauth.fetch_token(lab.metadata["token_endpoint"], authorization_response=back.url,
                              client_secret=app.client_secret)
    me = http.get(f"{lab.api_url}/me", headers={"Authorization": f"Bearer {alice['access_token']}"}).json()
store = str(lab.store.path)
lab.stop()
print(json.dumps({"package": apisec_lab.__file__, "path": sys.path, "prefix": sys.prefix, "usage": usage.status_code,
                  "me": me, "store": store, "errors": len(lab.errors)}))
"""


def can_build_here() -> bool:
    """Whether this interpreter has what the build needs (setuptools>=64; before 70.1 also ``wheel``)."""
    try:
        version = tuple(int(p) for p in importlib.metadata.version("setuptools").split(".")[:2])
        if version < (70, 1):
            importlib.metadata.version("wheel")
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return False
    return version >= (64, 0)


def run(*command, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{command[:4]}...: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done


@pytest.mark.packaging
def test_the_wheel_installed_outside_the_checkout_serves_the_seeded_users(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in SHIPPED:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, source / name)
    isolation = ["--no-build-isolation"] if can_build_here() else []
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", *isolation, "-w", tmp_path / "dist", source)
    [wheel] = (tmp_path / "dist").glob("apisec_lab-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    for data in ("users", "clients", "scopes", "resources"):
        assert f"apisec_lab/data/{data}.json" in shipped
    assert "apisec_lab/data/jwt-secrets.txt" in shipped        # notebook 07's wordlist
    assert {"apisec_lab/core/schema.sql", "apisec_lab/lab.py", "apisec_lab/book/nb00.py"} <= shipped
    assert not [n for n in shipped if n.startswith(("tests/", "notebooks/", "benchmarks/"))]
    assert [n for n in shipped if ".dist-info/" in n and n.endswith("/LICENSE")], "the wheel carries the license"

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False, symlinks=sys.platform != "win32")
    python = env_dir / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    site_packages = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    # The dependencies: this interpreter's installed packages, as plain path entries after the venv's own
    # site-packages (.pth files there are not processed, so the checkout's editable hook stays out).
    here = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site_packages / "dependencies-of-the-test.pth").write_text("\n".join(here) + "\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "--quiet", wheel)

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    result = json.loads(run(python, "-I", "-c", SCRIPT, cwd=outside, timeout=120).stdout.splitlines()[-1])
    package = Path(result["package"]).resolve()
    assert package.is_relative_to(site_packages.resolve()), f"apisec_lab came from {package}, not the wheel"
    assert Path(result["prefix"]).resolve() == env_dir.resolve()
    from_checkout = [p for p in result["path"] if p and p not in here and Path(p).resolve().is_relative_to(ROOT)]
    assert not from_checkout, f"the checkout is on the venv's sys.path: {from_checkout}"
    assert result["usage"] == 200, "backup-bot's client-credentials token opens its report"
    assert result["me"]["username"] == "alice", "alice signed in with the seeded password"
    assert result["errors"] == 0 and not Path(result["store"]).exists()
