"""The dataset registry: what each dataset is, where it comes from, and how to get it by hand.

A `Dataset` names its files (`RemoteFile`: where to download each one and its sha256), its
licence and citation, and what to do when it cannot be downloaded automatically. The course's
own entries are registered below with their credits; instructors can `register` their own.

>>> entry = get_dataset("mit-irish-tunes")
>>> entry.files[0].filename, entry.size
('irish.abc', 197618)
"""

from __future__ import annotations

import dataclasses
import re

from .errors import UnknownDatasetError

__all__ = ["SHA256_HEX", "Dataset", "RemoteFile", "datasets", "get_dataset", "register"]

#: A sha256 digest as the registry, the digest records and `fetch` expect it: 64 lower-case hex
#: digits.
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset.

    Parameters
    ----------
    filename : str
        Name of the file in the dataset's cache folder.
    urls : tuple of str
        Where to download it, tried in order (mirrors). Empty when the file can only be obtained
        by hand.
    sha256 : str or None
        Expected hex digest. None when it cannot be known in advance: the first download is then
        recorded and later ones are verified against it.
    size : int or None
        Size in bytes, when known.

    Examples
    --------
    >>> RemoteFile("labels.csv", ("https://example.org/labels.csv",), size=120).urls
    ('https://example.org/labels.csv',)
    """

    filename: str
    urls: tuple[str, ...] = ()
    sha256: str | None = None
    size: int | None = None


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A registry entry: what a dataset is, where it comes from, and how to get it by hand.

    Parameters
    ----------
    name : str
        Registry name: lower-case letters, digits, ``-``, ``_`` and ``.``.
    title, license, citation, homepage : str
        What it is, its licence (the field keeps the dataclass's spelling), how to cite it and
        where it is described.
    manual : str
        How to get it by hand (no network, a login, or no automatic download).
    files : tuple of RemoteFile
        Its files; empty for bundled data and for datasets that can only be obtained by hand.
    bundled : str or None
        ``"<package>:<folder>"`` for data that ships inside an installed package (no download).
    builder : str
        What to do with the files once they are here (e.g. the builder command to run).
    approx_size : int or None
        Total size in bytes when the files are not listed one by one (large archives).

    Examples
    --------
    >>> entry = Dataset("course-notes", "Notes", "CC-BY", "The staff", "https://example.org",
    ...                 "Ask the staff.", files=(RemoteFile("a.txt", size=3),
    ...                                          RemoteFile("b.txt", size=4)))
    >>> entry.size, entry.downloadable
    (7, False)
    """

    name: str
    title: str
    license: str
    citation: str
    homepage: str
    manual: str
    files: tuple[RemoteFile, ...] = ()
    #: ``"<package>:<folder>"`` for data that ships inside an installed package (no download).
    bundled: str | None = None
    #: What to do with the files once they are here (e.g. the builder command to run).
    builder: str = ""
    #: Total size in bytes when the files are not listed one by one (large archives).
    approx_size: int | None = None

    @property
    def size(self) -> int | None:
        """Total download size in bytes, or None when unknown."""
        sizes = [f.size for f in self.files]
        if sizes and all(s is not None for s in sizes):
            return sum(sizes)  # type: ignore[arg-type]
        return self.approx_size

    @property
    def downloadable(self) -> bool:
        """Whether every file has a URL, so `fetch` can get the whole dataset by itself."""
        return bool(self.files) and all(f.urls for f in self.files)


# ## Registering -------------------------------------------------------------------------------

#: Registry name -> entry. Changed only through `register`.
_REGISTRY: dict[str, Dataset] = {}


def _check_filename(name: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"{name!r} is not a valid file name for the data cache.")


def register(dataset: Dataset, *, replace: bool = False) -> Dataset:
    """Add a dataset to the registry (instructors can add their own).

    Parameters
    ----------
    dataset : Dataset
        The entry. Its name must be lower-case letters, digits, ``-``, ``_`` and ``.``; each
        file name a plain file name; each sha256 64 lower-case hex digits.
    replace : bool
        Replace an entry of the same name instead of refusing it.

    Returns
    -------
    Dataset
        `dataset`, now registered.

    Raises
    ------
    ValueError
        A bad name, file name or sha256, or a name already registered without ``replace=True``.

    Examples
    --------
    >>> essen = register(get_dataset("essen"), replace=True)
    >>> register(Dataset("My Notes", "t", "l", "c", "h", "m"))
    Traceback (most recent call last):
    ...
    ValueError: Dataset name 'My Notes' is not valid: use lower-case letters, digits, ...
    """
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", dataset.name):
        raise ValueError(
            f"Dataset name {dataset.name!r} is not valid: use lower-case letters, digits, '-', "
            "'_' and '.'."
        )
    if dataset.name in _REGISTRY and not replace:
        raise ValueError(f"A dataset named {dataset.name!r} is already registered.")
    for f in dataset.files:
        if f.sha256 is not None and not SHA256_HEX.fullmatch(f.sha256):
            raise ValueError(
                f"{dataset.name}/{f.filename}: sha256 must be 64 lower-case hex digits."
            )
        _check_filename(f.filename)
    _REGISTRY[dataset.name] = dataset
    return dataset


def datasets() -> list[Dataset]:
    """All registered datasets, sorted by name.

    Examples
    --------
    >>> names = [entry.name for entry in datasets()]
    >>> "essen" in names and names == sorted(names)
    True
    """
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def get_dataset(name: str) -> Dataset:
    """The registry entry called `name`.

    Raises
    ------
    UnknownDatasetError
        `name` is not registered; the message lists the known names.

    Examples
    --------
    >>> get_dataset("essen").bundled
    'music21:corpus/essenFolksong'
    >>> get_dataset("no-such-data")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mitdeeplearning.data.errors.UnknownDatasetError: Unknown dataset 'no-such-data'. Known ...
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownDatasetError(
            f"Unknown dataset {name!r}. Known datasets: {', '.join(sorted(_REGISTRY))}. "
            "A URL (http:// or https://) can be fetched too."
        ) from None


# ## The course's datasets and their credits ---------------------------------------------------

_NIH_ARCHIVES = (
    "vfk49d74nhbxq3nqjg0900w5nvkorp5c",
    "i28rlmbvmfjbl8p2n3ril0pptcmcu9d1",
    "f1t00wrtdk94satdfb9olcolqx20z2jp",
    "0aowwzs5lhjrceb3qp67ahp0rd1l1etg",
    "v5e3goj22zr6h8tzualxfsqlqaygfbsn",
    "asi7ikud9jwnkrnkj99jnpfkjdes7l6l",
    "jn1b4mw4n6lnh74ovmcjb8y48h8xj07n",
    "tvpxmn7qyrgl0w8wfh9kqfjskv6nmm1j",
    "upyy3ml7qdumlgk2rfcvlb9k6gvqq2pj",
    "l6nilvfa9cg3s28tqv1qc1olm3gnz54p",
    "hhq8fkdgvcari67vfhs7ppg2w6ni4jze",
    "ioqwiy20ihqwyr8pf4c24eazhh281pbu",
)
_NIH_HOME = "https://nihcc.app.box.com/v/ChestXray-NIHCC"
_NIH_CITATION = (
    "Wang X, Peng Y, Lu L, Lu Z, Bagheri M, Summers RM. ChestX-ray8: Hospital-scale Chest X-ray "
    "Database and Benchmarks on Weakly-Supervised Classification and Localization of Common "
    "Thorax Diseases. CVPR 2017. Images courtesy of the NIH Clinical Center."
)
_MUSIC21_CREDIT = (
    "Distributed with music21 (Cuthbert & Ariza, ISMIR 2010) with the encoders' permission."
)

for _entry in (
    Dataset(
        name="oneills1850",
        title="O'Neill's Music of Ireland (1850 tunes), ABC",
        license="Public-domain tunes; transcriptions distributed with music21 by permission",
        citation=(
            "Francis O'Neill, O'Neill's Music of Ireland (1903). ABC transcriptions by Norbert "
            "Paap, John Chambers and others. " + _MUSIC21_CREDIT
        ),
        homepage="https://www.music21.org/music21docs/about/referenceCorpus.html",
        manual="Installed with music21: pip install music21",
        bundled="music21:corpus/oneills1850",
        approx_size=848_000,
    ),
    Dataset(
        name="ryans-mammoth",
        title="Ryan's Mammoth Collection (1,059 tunes), ABC",
        license="Public-domain tunes; transcriptions distributed with music21 by permission",
        citation=(
            "William Bradbury Ryan, Ryan's Mammoth Collection (1883). ABC transcriptions by "
            "Bill Black and Andrew Kuntz. " + _MUSIC21_CREDIT
        ),
        homepage="https://www.music21.org/music21docs/about/referenceCorpus.html",
        manual="Installed with music21: pip install music21",
        bundled="music21:corpus/ryansMammoth",
        approx_size=4_200_000,
    ),
    Dataset(
        name="airds-airs",
        title="Aird's Selection of Scotch, English, Irish and Foreign Airs, ABC",
        license="Public-domain tunes; transcriptions distributed with music21 by permission",
        citation=(
            "James Aird, A Selection of Scotch, English, Irish and Foreign Airs (1782-1803). "
            "ABC transcriptions by John Chambers. " + _MUSIC21_CREDIT
        ),
        homepage="https://www.music21.org/music21docs/about/referenceCorpus.html",
        manual="Installed with music21: pip install music21",
        bundled="music21:corpus/airdsAirs",
        approx_size=428_000,
    ),
    Dataset(
        name="essen",
        title="Essen Folksong Collection (8,514 songs), ABC",
        license="Research and teaching use only (non-commercial)",
        citation=(
            "Helmut Schaffrath, The Essen Folksong Collection, ed. David Huron (1995). ABC "
            "conversion distributed with music21. " + _MUSIC21_CREDIT
        ),
        homepage="https://www.music21.org/music21docs/about/referenceCorpus.html",
        manual="Installed with music21: pip install music21",
        bundled="music21:corpus/essenFolksong",
        approx_size=2_600_000,
    ),
    Dataset(
        name="mit-irish-tunes",
        title="The 817 Irish tunes of MIT 6.S191's music lab (2020-2025), ABC",
        license="MIT (introtodeeplearning repository); tunes from thesession.org",
        citation=(
            "A. Amini et al., MIT 6.S191 Introduction to Deep Learning, lab 1 (2020-2025); tunes "
            "collected from thesession.org."
        ),
        homepage="https://github.com/aamini/introtodeeplearning",
        manual="Save the raw file from the homepage's mitdeeplearning/data/irish.abc.",
        files=(
            RemoteFile(
                "irish.abc",
                urls=(
                    "https://raw.githubusercontent.com/aamini/introtodeeplearning/master/"
                    "mitdeeplearning/data/irish.abc",
                ),
                sha256="df3782d5f7b5a2f4c66aa7c13f13008d5f48757b3f5f51620cd6c1ceb2c53023",
                size=197_618,
            ),
        ),
    ),
    Dataset(
        name="nih-chestxray14",
        title="NIH ChestX-ray14: 112,120 frontal chest radiographs (PNG, 1024x1024)",
        license="No restrictions on use; cite the paper and credit the NIH Clinical Center",
        citation=_NIH_CITATION,
        homepage=_NIH_HOME,
        manual=(
            f"Download images_001.tar.gz ... images_012.tar.gz from {_NIH_HOME} (folder 'images'). "
            "The archives change rarely but carry no published checksum: the first download "
            "is recorded and later ones are verified against it."
        ),
        files=tuple(
            RemoteFile(
                f"images_{i:03d}.tar.gz",
                urls=(f"https://nihcc.box.com/shared/static/{key}.gz",),
            )
            for i, key in enumerate(_NIH_ARCHIVES, start=1)
        ),
        builder=(
            "Extract the archives into one folder, then: mitdl convert nih --images DIR "
            "--csv Data_Entry_2017.csv [--bbox BBox_List_2017.csv]"
        ),
        approx_size=45_000_000_000,
    ),
    Dataset(
        name="nih-chestxray14-labels",
        title="NIH ChestX-ray14 labels (Data_Entry_2017.csv) and boxes (BBox_List_2017.csv)",
        license="No restrictions on use; cite the paper and credit the NIH Clinical Center",
        citation=_NIH_CITATION,
        homepage=_NIH_HOME,
        manual=(
            f"Open {_NIH_HOME} in a browser and download Data_Entry_2017.csv (or its "
            "Data_Entry_2017_v2020.csv revision) and BBox_List_2017.csv. The box list, with its 98 "
            "pneumothorax boxes, also ships inside the torchxrayvision package."
        ),
        files=(RemoteFile("Data_Entry_2017.csv"), RemoteFile("BBox_List_2017.csv")),
        builder=(
            "mitdl convert nih --images DIR --csv Data_Entry_2017.csv --bbox BBox_List_2017.csv"
        ),
    ),
    Dataset(
        name="siim-acr-pneumothorax",
        title="SIIM-ACR Pneumothorax Segmentation (DICOM images, masks as RLE)",
        license="Kaggle competition rules: non-commercial research and education",
        citation=(
            "Society for Imaging Informatics in Medicine (SIIM) and American College of "
            "Radiology (ACR), SIIM-ACR Pneumothorax Segmentation challenge, 2019."
        ),
        homepage="https://www.kaggle.com/c/siim-acr-pneumothorax-segmentation",
        manual=(
            "Needs a Kaggle account that accepted the competition rules. Download the "
            "competition data (dicom-images-train/ and train-rle.csv) from the homepage, or with "
            "the Kaggle CLI (kaggle competitions download -c siim-acr-pneumothorax-segmentation)."
        ),
        builder="mitdl convert siim --images DIR --rle train-rle.csv",
    ),
    Dataset(
        name="mit-2018-pneumothorax",
        title="MIT 6.S191 (2018) pneumothorax subset of ChestX-ray14, HDF5 (image, label)",
        license="Derived from NIH ChestX-ray14 (no restrictions on use)",
        citation=_NIH_CITATION + " Subset prepared for MIT 6.S191 (2018).",
        homepage="https://github.com/aamini/introtodeeplearning_labs",
        manual=(
            "The 2018 course shared this file through Dropbox links that no longer work "
            "reliably. If you have a copy, put it in the data cache as shown; `mitdl convert nih` "
            "makes an equivalent file from the NIH images."
        ),
        files=(RemoteFile("pneumothorax.h5"),),
    ),
):
    register(_entry)
