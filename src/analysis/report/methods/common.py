"""What every methods paragraph is made of: :class:`MethodsText`, its citations, the software sentence
and small helpers for writing lists and numbers into sentences."""

from __future__ import annotations

import platform
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from ... import __version__
from ..dependencies import COMPUTING_LIBRARIES, library_versions
from .references import REFERENCES

#: The paper to cite for each computing library, where it has one.
LIBRARY_CITATIONS = {"numpy": "Harris et al., 2020", "scipy": "Virtanen et al., 2020", "pandas": "McKinney, 2010",
                     "statsmodels": "Seabold & Perktold, 2010", "pymc": "Abril-Pla et al., 2023",
                     "arviz": "Kumar et al., 2019"}


@dataclass(frozen=True)
class MethodsText:
    """A methods paragraph and the references its citations stand for.

    Attributes
    ----------
    text : str
        The paragraph, citations in APA's (Author, year) form.
    references : tuple of str
        Full references, as in :data:`REFERENCES`.
    """

    text: str
    references: tuple[str, ...] = ()

    @property
    def markdown(self) -> str:
        """The paragraph, then its references as a Markdown list under a bold heading."""
        return self.text + ("\n\n**References**\n\n" + "\n".join(f"- {ref}" for ref in self.references)
                            if self.references else "")

    @property
    def plain(self) -> str:
        """The paragraph, then its references, as plain text."""
        return self.text + ("\n\nReferences\n\n" + "\n".join(self.references) if self.references else "")


def cited(text: str) -> MethodsText:
    """``text`` with the references of the citations in it that :data:`REFERENCES` knows, sorted."""
    return MethodsText(text, tuple(sorted(ref for key, ref in REFERENCES.items() if key in text)))


def combine(*parts: str | MethodsText) -> MethodsText:
    """One paragraph from several parts (strings or :class:`MethodsText`), references merged and sorted."""
    texts = [part.text if isinstance(part, MethodsText) else str(part) for part in parts]
    references = {ref for part in parts if isinstance(part, MethodsText) for ref in part.references}
    joined = " ".join(text.strip() for text in texts if text.strip())
    return MethodsText(joined, tuple(sorted(references | set(cited(joined).references))))


def sentences(*parts: str) -> MethodsText:
    """The non-empty parts joined into one cited paragraph."""
    return cited(" ".join(part for part in parts if part))


def software(modules: dict | None = None) -> MethodsText:
    """The sentence naming Python, this suite and the computing libraries in use, with their versions.

    Parameters
    ----------
    modules : dict, optional
        The imported modules (default ``sys.modules``): a library of
        :data:`~analysis.report.dependencies.COMPUTING_LIBRARIES` is named when imported.
    """
    modules = sys.modules if modules is None else modules
    versions = library_versions()
    used = [name for name in COMPUTING_LIBRARIES if name in modules]
    libraries = ", ".join(f"{name} {versions[name]}" + (f" ({LIBRARY_CITATIONS[name]})" if name in LIBRARY_CITATIONS
                                                        else "") for name in used)
    return cited(f"Analyses were run in Python {platform.python_version()} with the analysis suite "
                 f"{__version__}" + (f" and {libraries}" if libraries else "") + ".")


def listing(items: Iterable) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = [str(item) for item in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


def expect(items: dict, kinds: tuple, what: str, who: str) -> None:
    """Refuse an empty ``items`` or one holding other than ``kinds``, naming the entries."""
    if not items:
        raise ValueError(f"{who} needs at least one {what}")
    wrong = sorted(str(name) for name, item in items.items() if not isinstance(item, kinds))
    if wrong:
        raise ValueError(f"{who}: not {what} ({' or '.join(kind.__name__ for kind in kinds)}): {wrong}")
