"""The project's own exceptions.

Library code raises only these (or subclasses); the CLI turns them into one
line on stderr and an exit code.  ``exit_code`` 1 means bad input, 2 a usage
error (click's own convention for bad options).
"""

from __future__ import annotations


class SenetProtoError(Exception):
    """Base of every error senet-proto raises on purpose."""

    exit_code = 1


class UsageError(SenetProtoError):
    """The command line asked for something impossible (unknown arch, bad option value)."""

    exit_code = 2


class PrototxtError(SenetProtoError):
    """A prototxt could not be parsed or does not describe a valid net."""


class CaffemodelError(SenetProtoError):
    """A .caffemodel could not be read or does not match its prototxt."""


class TemplateError(SenetProtoError):
    """An architecture template is malformed."""


class UnsupportedLayerError(SenetProtoError):
    """A layer type has no converter."""


class OutputError(SenetProtoError):
    """An output file cannot be written (exists without --force, unwritable path...)."""


class CaffeReferenceError(SenetProtoError):
    """The real-Caffe reference backend failed (root cannot be built, Caffe raised...)."""


class VerificationError(SenetProtoError):
    """A converted model disagrees with Caffe beyond tolerance."""

    exit_code = 3


class WrongFileKindError(PrototxtError, CaffemodelError):
    """A file given as one kind (a net prototxt, a caffemodel) is plainly another (``senet_proto.filekinds``).

    ``kind``: what the file looks like (``caffemodel``, ``solverstate``, ``net``, ``solver``, ``pytorch``...);
    ``expected``: what was asked for (``net`` or ``caffemodel``). Commands that take PROTOTXT CAFFEMODEL use them
    to add that the arguments may be swapped.
    """

    def __init__(self, message: str, kind: str = "", expected: str = "") -> None:
        super().__init__(message)
        self.kind, self.expected = kind, expected


class MissingDependencyError(SenetProtoError, ModuleNotFoundError):
    """An optional Python package is not installed (the message names it and the extra that brings it).

    Also a ModuleNotFoundError, so code that falls back when an import fails keeps working."""


class DataError(SenetProtoError):
    """Images or a data set cannot be used (no images, a corrupt file, a folder that is no WordNet id...)."""
