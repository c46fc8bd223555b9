"""Packaging for the `mitdeeplearning` helper package and the `mitdl` command.

The repository URL below is the only place it is written: the README links and the notebooks'
set-up cell are checked against it (tests/test_repository.py), and the package reads it back
from its installed metadata (`mitdeeplearning.project_url()`).

Building the package also copies the course's release notebooks (``labs/release/<lab>/``) into
it, as ``mitdeeplearning/course_data/release/<lab>/``: `mitdl validate` compares a student's
notebook with them wherever the package is installed (``pip install git+...``, Colab), and a
copy made at build time cannot drift from the release it was built from.
"""

import re
import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).parent
#: The committed release notebooks, and where the built package keeps its copy of them.
RELEASE = HERE / "labs" / "release"
SHIPPED_RELEASE = Path("mitdeeplearning", "course_data", "release")
VERSION = re.search(
    r'__version__\s*=\s*"([^"]+)"', (HERE / "mitdeeplearning" / "_version.py").read_text()
).group(1)

# Ranges that Colab's preinstalled packages satisfy, so installing there adds only what is
# missing. Depend on `tensorflow` (never `tensorflow-cpu`) and on the headless OpenCV build that
# Colab already has: a second distribution of either would install a second copy.
INSTALL_REQUIRES = [
    "tensorflow>=2.16",  # Keras 3
    "numpy>=2.0",
    "matplotlib>=3.7",
    "music21>=9.1",
    "pretty_midi>=0.2.10",
    "scikit-learn>=1.3",
    "opencv-python-headless>=4.8",
    "h5py>=3.9",
    "tqdm>=4.65",
    "filelock>=3.12",
    "nbformat>=5.9",
    "nbclient>=0.8",
]

EXTRAS_REQUIRE = {
    # Instructors: release and autograde. Kept out of the base install because nbgrader pins
    # its own Jupyter server stack, which would fight the one Colab runs.
    "course": ["nbgrader>=0.9.6", "jupyter>=1.0", "nbconvert>=7", "distributed>=2024.1"],
    "dev": [
        "pytest>=8",
        "ruff>=0.6",
        "packaging>=23",
        "nbgrader>=0.9.6",
        "jupyter>=1.0",
        "nbconvert>=7",
        "distributed>=2024.1",
    ],
}


class BuildWithRelease(build_py):
    """``build_py`` that also copies ``labs/release/<lab>/*.ipynb`` into the built package.

    An editable install skips the copy: it runs from the checkout, whose ``labs/`` validation
    reads directly. A build without the release notebooks fails: a package that cannot validate
    must not be built silently (an sdist carries them through ``MANIFEST.in``).
    """

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        notebooks = sorted(RELEASE.glob("*/*.ipynb"))
        if not notebooks:
            raise SystemExit(
                f"{RELEASE} holds no release notebooks (<lab>/*.ipynb): build the package from "
                "a checkout of the repository, or from an sdist made with its MANIFEST.in."
            )
        target = Path(self.build_lib) / SHIPPED_RELEASE
        shutil.rmtree(target, ignore_errors=True)  # a notebook since removed must not linger
        for notebook in notebooks:
            (target / notebook.parent.name).mkdir(parents=True, exist_ok=True)
            self.copy_file(str(notebook), str(target / notebook.parent.name / notebook.name))


setup(
    name="mitdeeplearning",
    version=VERSION,
    description=(
        "Helpers and nbgrader labs for a hands-on introduction to deep learning: "
        "TensorFlow basics, LSTM music generation, pneumothorax detection with CAM."
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    url="https://github.com/mitdl-course/introtodeeplearning-labs",
    license="MIT",
    packages=find_packages(include=["mitdeeplearning", "mitdeeplearning.*"]),
    include_package_data=True,
    python_requires=">=3.11",
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points={"console_scripts": ["mitdl = mitdeeplearning.cli:main"]},
    cmdclass={"build_py": BuildWithRelease},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.11",
        "License :: OSI Approved :: MIT License",
        "Operating System :: OS Independent",
        "Intended Audience :: Education",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
