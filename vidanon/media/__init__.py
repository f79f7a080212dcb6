"""Stages 0 and 4: reading frames and writing the anonymized video, faithfully.

:mod:`.probe` (what a file holds), :mod:`.reader` (frames in), :mod:`.writer` (frames out,
with the input's times, colour and aspect), :mod:`.plan` (the other streams per container),
:mod:`.matroska`, :mod:`.join` (``--segments``), :mod:`.paths` (output checks, temporary
files), :mod:`.sidefile` (tracks file and review sheet), :mod:`.streams` (ffmpeg's header),
:mod:`.source` and :mod:`.sink` (the pipeline's ends), :mod:`.ffmpeg`. Nothing here imports
a stage above it. The names the options need are here, in this light module.
"""

ODD_SIZES = ("pad", "444")
METADATA_POLICIES = ("private", "keep", "strip")
