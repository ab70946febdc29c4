"""The error every user-facing input problem of the dataset layer raises."""

from tfrecords.errors import UserError


class DatasetError(UserError):
    """A UCF-101 list, folder or file is not what the dataset layer expects.

    The message always names the file (and line, for list files) and what to do about it.
    """
